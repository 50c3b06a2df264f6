"""Microsoft's MSAL for Python against o365-sim.

Only the authority URL and the CA change (plus instance_discovery=False, because MSAL would
otherwise ask login.microsoftonline.com whether an unknown host is a valid authority).
The sign-in form is filled over plain HTTP with requests, using the documented field names.

Environment: SIM_URL (https://127.0.0.1:PORT), SIM_CA (path of the sim's CA PEM).
"""
import html
import os
import re
import sys
import threading
import urllib.parse

import msal
import requests

URL = os.environ["SIM_URL"]
CA = os.environ["SIM_CA"]
# requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE override a session's `verify`; point them
# at the sim's CA too, so that MSAL's own session trusts it whatever the environment says.
os.environ["REQUESTS_CA_BUNDLE"] = CA
os.environ["CURL_CA_BUNDLE"] = CA
# The demo seed's public client (registered with this redirect URI).
CLIENT_ID = "11111111-2222-3333-4444-555555555555"
REDIRECT = "http://localhost:8400/callback"
SCOPES = ["https://graph.microsoft.com/Mail.ReadWrite", "https://graph.microsoft.com/Mail.Send",
          "https://graph.microsoft.com/User.Read"]
USER, PASSWORD = "anna.schmidt@contoso.example", "Passw0rd!"


def check(cond, what):
    if not cond:
        print("FAIL:", what)
        sys.exit(1)
    print("ok:", what)


def form_fields(page):
    """action and hidden/named inputs of the first form on the page."""
    m = re.search(r'<form[^>]*action="([^"]*)"', page)
    action = html.unescape(m.group(1)) if m else None
    fields = {}
    for tag in re.findall(r"<input[^>]*>", page):
        n = re.search(r'name="([^"]*)"', tag)
        v = re.search(r'value="([^"]*)"', tag)
        if n:
            fields[html.unescape(n.group(1))] = html.unescape(v.group(1)) if v else ""
    return action, fields


def fill_sign_in(session, first_response):
    """Sign-in page -> consent page -> redirect (or device 'done' page)."""
    r = first_response
    for _ in range(6):
        if r.status_code in (302, 303):
            return r.headers["Location"]
        page = r.text
        if 'id="deviceDone"' in page:
            return page
        err = re.search(r'<div id="error"[^>]*>([^<]*)</div>', page)
        if err:
            raise RuntimeError(html.unescape(err.group(1)))
        action, fields = form_fields(page)
        target = urllib.parse.urljoin(URL, action)
        if "passwd" in fields:
            fields.update(login=USER, passwd=PASSWORD)
        elif 'name="accept"' in page:
            fields["accept"] = "yes"
        else:
            raise RuntimeError("unexpected page: " + page[:500])
        r = session.post(target, data=fields, allow_redirects=False)
    raise RuntimeError("sign-in did not finish")


app = msal.PublicClientApplication(
    CLIENT_ID,
    authority=URL + "/contoso.example",
    verify=CA,
    instance_discovery=False,
)

# 1. Authorization code flow with PKCE.
flow = app.initiate_auth_code_flow(SCOPES, redirect_uri=REDIRECT)
check("code_challenge=" in flow["auth_uri"] and "code_challenge_method=S256" in flow["auth_uri"],
      "MSAL sends a PKCE S256 challenge")
browser = requests.Session()
browser.verify = CA
location = fill_sign_in(browser, browser.get(flow["auth_uri"], allow_redirects=False))
check(location.startswith(REDIRECT), "redirected back to the app: " + location[:60])
auth_response = dict(urllib.parse.parse_qsl(urllib.parse.urlparse(location).query))
result = app.acquire_token_by_auth_code_flow(flow, auth_response)
check("access_token" in result, "auth code redeemed: %s" % {k: v for k, v in result.items() if k.startswith("error")})
check(result["id_token_claims"]["preferred_username"] == USER, "id token names the user")
me = requests.get(URL + "/v1.0/me", headers={"Authorization": "Bearer " + result["access_token"]}, verify=CA)
check(me.status_code == 200 and me.json()["userPrincipalName"] == USER, "Graph /me with the MSAL token")

# 2. Refresh with rotation.
rt1 = result["refresh_token"]
r2 = app.acquire_token_by_refresh_token(rt1, SCOPES)
check("access_token" in r2 and r2.get("refresh_token") and r2["refresh_token"] != rt1,
      "refresh returns a new (rotated) refresh token")
r3 = app.acquire_token_by_refresh_token(r2["refresh_token"], SCOPES)
check("access_token" in r3, "the rotated refresh token works")
accounts = app.get_accounts(username=USER)
check(len(accounts) == 1, "MSAL cached the account")
silent = app.acquire_token_silent(SCOPES, account=accounts[0], force_refresh=True)
check(silent and "access_token" in silent, "acquire_token_silent(force_refresh) refreshes through the cache")

# 3. Device code flow.
requests.put(URL + "/_sim/token-lifetimes", json={"deviceCodeInterval": 1}, verify=CA).raise_for_status()
device = app.initiate_device_flow(scopes=SCOPES)
check("user_code" in device and device.get("interval") == 1, "device code issued: " + device.get("message", ""))
errors = []


def person_at_another_device():
    try:
        s = requests.Session()
        s.verify = CA
        done = fill_sign_in(s, s.post(device["verification_uri"], data={"otc": device["user_code"]},
                                       allow_redirects=False))
        if 'data-result="approved"' not in done:
            errors.append("device sign-in not approved")
    except Exception as e:  # noqa: BLE001
        errors.append(repr(e))


t = threading.Thread(target=person_at_another_device)
t.start()
dres = app.acquire_token_by_device_flow(device)
t.join()
check(not errors, "device page sign-in: %s" % errors)
check("access_token" in dres, "device code redeemed: %s" % {k: v for k, v in dres.items() if k.startswith("error")})
counters = requests.get(URL + "/_sim/counters", verify=CA).json()
check(counters["deviceCodesRedeemed"] == 1 and counters["codesRedeemed"] == 1 and counters["refreshes"] >= 3,
      "sim counters: %s" % {k: counters[k] for k in ("codesRedeemed", "refreshes", "deviceCodesRedeemed")})
print("MSAL", msal.__version__, "completed all flows")
