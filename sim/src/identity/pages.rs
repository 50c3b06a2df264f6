//! The HTML of the sign-in pages. Form field names follow Entra's own pages: `login`,
//! `passwd`, `ctx` (the flow), `otc` (device code), `accept` (`yes`/`no`) on the consent page.

use axum::body::Body;
use axum::http::{header, Response, StatusCode};

pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            _ => o.push(c),
        }
    }
    o
}

/// Microsoft's sign-in look in plain HTML with inline CSS: a white card on a light background,
/// the Microsoft wordmark, 24 px Segoe headings, blue primary buttons.
pub fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{}</title></head>\n<body style=\"margin:0;background:#f2f2f2;font-family:'Segoe UI','Helvetica Neue',Arial,sans-serif;color:#1b1b1b\">\n<div style=\"max-width:440px;margin:60px auto;background:#fff;padding:44px;box-shadow:0 2px 6px rgba(0,0,0,.2)\">\n<div id=\"brand\" style=\"font-size:15px;font-weight:600;color:#737373;margin-bottom:16px\"><span style=\"display:inline-block;width:10px;height:10px;background:#f25022;margin-right:1px\"></span><span style=\"display:inline-block;width:10px;height:10px;background:#7fba00;margin-right:6px\"></span>Microsoft</div>\n<h1 style=\"font-size:24px;font-weight:600;margin:0 0 12px\">{}</h1>\n{}\n</div>\n</body></html>\n",
        esc(title),
        esc(title),
        body
    )
}

const BUTTON: &str =
    "background:#0067b8;color:#fff;border:0;padding:6px 12px;min-width:108px;font-size:15px";
const BUTTON_SECONDARY: &str =
    "background:#ccc;color:#1b1b1b;border:0;padding:6px 12px;min-width:108px;font-size:15px";
const INPUT: &str = "display:block;width:100%;border:0;border-bottom:1px solid #666;padding:6px 0;margin:8px 0 16px;font-size:15px";

/// What the pages show of an app registration.
pub struct AppView<'a> {
    pub name: &'a str,
    /// Verified publisher domain, or None ("unverified").
    pub publisher: Option<&'a str>,
}

/// Microsoft's words for a permission on the consent page (the user-consent display names of
/// the Graph permissions reference); unknown scopes are shown by name.
pub fn permission_text(scope: &str) -> &str {
    match scope {
        "openid" => "Sign you in",
        "profile" => "View your basic profile",
        "email" => "View your email address",
        "offline_access" => "Maintain access to data you have given it access to",
        "User.Read" => "Sign you in and read your profile",
        "User.ReadBasic.All" => "Read all users' basic profiles",
        "User.Read.All" => "Read all users' full profiles",
        "Mail.ReadBasic" => "Read user basic mail",
        "Mail.Read" => "Read your mail",
        "Mail.ReadWrite" => "Read and write access to your mail",
        "Mail.Send" => "Send mail as you",
        "Mail.ReadBasic.Shared" => "Read user and shared basic mail",
        "Mail.Read.Shared" => "Read user and shared mail",
        "Mail.ReadWrite.Shared" => "Read and write user and shared mail",
        "Mail.Send.Shared" => "Send mail on behalf of others",
        "MailboxSettings.Read" => "Read your mailbox settings",
        "MailboxSettings.ReadWrite" => "Read and write to your mailbox settings",
        other => other,
    }
}

fn app_header(app: &AppView) -> String {
    let publisher = match app.publisher {
        Some(d) => format!("<span id=\"publisherDomain\">{}</span>", esc(d)),
        None => "<span id=\"publisherDomain\" data-verified=\"false\">unverified</span>".into(),
    };
    format!(
        "<div style=\"margin:0 0 16px\"><div id=\"appName\" style=\"font-size:20px;font-weight:600\">{}</div><div style=\"font-size:13px;color:#666\">{publisher}</div></div>",
        esc(app.name)
    )
}

pub fn html(s: String) -> Response<Body> {
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "text/html; charset=utf-8")
        .header(header::CACHE_CONTROL, "no-store, no-cache")
        .header("X-Frame-Options", "DENY")
        .body(Body::from(s))
        .unwrap()
}

/// An error shown on a page (not redirected): `<div id="error" data-aadsts="50126">`.
pub fn error_block(code: u32, msg: &str) -> String {
    format!(
        "<div id=\"error\" role=\"alert\" data-aadsts=\"{code}\">AADSTS{code}: {}</div>",
        esc(msg)
    )
}

pub fn error_page(code: u32, msg: &str) -> Response<Body> {
    let mut r = html(page(
        "Sorry, but we're having trouble signing you in.",
        &error_block(code, msg),
    ));
    *r.status_mut() = StatusCode::BAD_REQUEST;
    r
}

pub fn login_page(
    tenant: &str,
    ctx: &str,
    app: &AppView,
    hint: &str,
    error: Option<(u32, &str)>,
) -> Response<Body> {
    let err = error.map(|(c, m)| error_block(c, m)).unwrap_or_default();
    html(page(
        "Sign in",
        &format!(
            "<p style=\"margin:0 0 16px\">to continue to <span id=\"appName\">{app}</span></p>\n{err}\n<form method=\"post\" action=\"/{tenant}/login\" id=\"loginForm\">\n<input type=\"hidden\" name=\"ctx\" value=\"{ctx}\">\n<label>Email, phone, or Skype <input type=\"email\" name=\"login\" value=\"{hint}\" autocomplete=\"username\" style=\"{INPUT}\"></label>\n<label>Password <input type=\"password\" name=\"passwd\" autocomplete=\"current-password\" style=\"{INPUT}\"></label>\n<div style=\"text-align:right\"><input type=\"submit\" id=\"idSIButton9\" value=\"Sign in\" style=\"{BUTTON}\"></div>\n</form>",
            app = esc(app.name),
            tenant = esc(tenant),
            ctx = esc(ctx),
            hint = esc(hint),
        ),
    ))
}

/// "Pick an account": the browser's SSO session knows `accounts` (UPN, display name).
/// Choosing one posts `account=<upn>`; "Use another account" posts `account=` (empty).
pub fn picker_page(
    tenant: &str,
    ctx: &str,
    app: &AppView,
    accounts: &[(String, String)],
) -> Response<Body> {
    let tiles: String = accounts
        .iter()
        .map(|(upn, name)| {
            format!(
                "<button type=\"submit\" name=\"account\" value=\"{upn}\" class=\"account\" style=\"display:block;width:100%;text-align:left;background:#fff;border:0;border-bottom:1px solid #e6e6e6;padding:12px 0;font-size:15px\"><span style=\"display:block\">{name}</span><span style=\"display:block;color:#666;font-size:13px\">{upn}</span><span style=\"display:block;color:#666;font-size:13px\">Signed in</span></button>",
                upn = esc(upn),
                name = esc(name),
            )
        })
        .collect();
    html(page(
        "Pick an account",
        &format!(
            "<p style=\"margin:0 0 16px\">to continue to <span id=\"appName\">{app}</span></p>\n<form method=\"post\" action=\"/{tenant}/pick\" id=\"pickerForm\">\n<input type=\"hidden\" name=\"ctx\" value=\"{ctx}\">\n{tiles}\n<button type=\"submit\" name=\"account\" value=\"\" id=\"otherTile\" style=\"display:block;width:100%;text-align:left;background:#fff;border:0;padding:12px 0;font-size:15px\">Use another account</button>\n</form>",
            app = esc(app.name),
            tenant = esc(tenant),
            ctx = esc(ctx),
        ),
    ))
}

pub fn consent_page(
    tenant: &str,
    ctx: &str,
    app: &AppView,
    user: &str,
    scopes: &[String],
    for_org: bool,
) -> Response<Body> {
    let items: String = scopes
        .iter()
        .map(|s| {
            format!(
                "<li class=\"scope\" data-scope=\"{}\" style=\"margin:6px 0\">{}</li>",
                esc(s),
                esc(permission_text(s))
            )
        })
        .collect();
    let org = if for_org {
        "<p id=\"orgConsent\"><label><input type=\"checkbox\" checked disabled> Consent on behalf of your organization</label><br>Accepting grants these permissions for your entire organization.</p>"
    } else {
        ""
    };
    let unverified = if app.publisher.is_none() {
        "<p id=\"unverifiedWarning\" style=\"font-size:13px;color:#a80000\">This app is not published by Microsoft or your organization.</p>"
    } else {
        ""
    };
    html(page(
        "Permissions requested",
        &format!(
            "<div id=\"account\" style=\"font-size:13px;margin:0 0 12px\">{user}</div>\n{header}\n{unverified}\n<p style=\"margin:0 0 8px\">This app would like to:</p>\n<ul style=\"padding-left:20px\">{items}</ul>\n{org}\n<p style=\"font-size:13px;color:#666\">Accepting these permissions means that you allow this app to use your data as specified in their terms of service and privacy statement. You can change these permissions at https://myapps.microsoft.com.</p>\n<form method=\"post\" action=\"/{tenant}/consent\" id=\"consentForm\" style=\"text-align:right\">\n<input type=\"hidden\" name=\"ctx\" value=\"{ctx}\">\n<button type=\"submit\" name=\"accept\" value=\"no\" id=\"idBtn_Back\" style=\"{BUTTON_SECONDARY}\">Cancel</button>\n<button type=\"submit\" name=\"accept\" value=\"yes\" id=\"idSIButton9\" style=\"{BUTTON}\">Accept</button>\n</form>",
            header = app_header(app),
            user = esc(user),
            tenant = esc(tenant),
            ctx = esc(ctx),
        ),
    ))
}

pub fn device_code_page(error: Option<(u32, &str)>) -> Response<Body> {
    let err = error.map(|(c, m)| error_block(c, m)).unwrap_or_default();
    html(page(
        "Enter code",
        &format!(
            "<p>Enter the code displayed on your app or device.</p>\n{err}\n<form method=\"post\" action=\"/devicelogin\" id=\"deviceForm\">\n<input type=\"text\" name=\"otc\" autocomplete=\"off\" style=\"{INPUT}\">\n<div style=\"text-align:right\"><input type=\"submit\" id=\"idSIButton9\" value=\"Next\" style=\"{BUTTON}\"></div>\n</form>"
        ),
    ))
}

pub fn device_done_page(approved: bool) -> Response<Body> {
    if approved {
        html(page(
            "You're signed in",
            "<p id=\"deviceDone\" data-result=\"approved\">You have signed in to the application on your device. You may now close this window.</p>",
        ))
    } else {
        html(page(
            "Sign-in cancelled",
            "<p id=\"deviceDone\" data-result=\"declined\">You have declined to sign in to the application on your device. You may now close this window.</p>",
        ))
    }
}

/// The page that posts the result to the redirect URI (`response_mode=form_post`).
pub fn form_post_page(action: &str, fields: &[(String, String)]) -> Response<Body> {
    let inputs: String = fields
        .iter()
        .map(|(k, v)| {
            format!(
                "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
                esc(k),
                esc(v)
            )
        })
        .collect();
    html(format!(
        "<!DOCTYPE html>\n<html><head><title>Working...</title></head><body onload=\"document.forms[0].submit()\">\n<form method=\"POST\" name=\"hiddenform\" id=\"form_post\" action=\"{}\">{inputs}<noscript><input type=\"submit\" value=\"Continue\"></noscript></form>\n</body></html>\n",
        esc(action)
    ))
}
