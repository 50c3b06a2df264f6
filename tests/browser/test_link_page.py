#!/usr/bin/env python3
"""The link page in a real browser (issue 16): headless Chromium, driven over the DevTools
protocol, through the PHP example (bindings/php/examples/web/index.php under `php -S`)
against o365-sim.

Sign-in through the example's callback route; a download link (German and English, phone
width), download and compare SHA-256; an agreement link: the file refused before acceptance,
accept with the keyboard, download; a tampered link; a 100 MB file streamed while PHP's peak
memory stays far below the file size; an expired link (a second server whose library clock
runs 15 days ahead: debug.clock_offset_ms). Screenshots of every page go to
build/test-output/links/.

Environment: O365_LIB (libo365.so), O365_SIM (o365-sim binary), CHROMIUM (default chromium),
PHP (default php). Exit status 0 when every check held.
"""

import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(__file__))
import cdp  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OUT = os.path.join(ROOT, "build", "test-output", "links")
LIB = os.environ.get("O365_LIB") or os.path.join(ROOT, "target", "debug", "libo365.so")
SIM = os.environ.get("O365_SIM") or os.path.join(ROOT, "target", "debug", "o365-sim")
CHROMIUM = os.environ.get("CHROMIUM", "chromium")
PHP = os.environ.get("PHP", "php")
BIG = 100 * 1024 * 1024
DAY_MS = 24 * 3600 * 1000

checks = 0


def check(cond, what):
    global checks
    if not cond:
        raise AssertionError(what)
    checks += 1
    print(f"  ok  {what}")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def wait_http(url, proc):
    """Until the server answers (or its process died)."""
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"server for {url} exited with {proc.returncode}")
        try:
            urllib.request.urlopen(url, timeout=5)
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.05)


def png(width, height, rgb):
    """A small valid PNG (a plain floor plan stand-in)."""
    import struct
    import zlib

    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))

    raw = b"".join(b"\0" + bytes(rgb) * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def main():
    os.makedirs(OUT, exist_ok=True)
    for f in os.listdir(OUT):
        os.remove(os.path.join(OUT, f))
    tmp = tempfile.mkdtemp(prefix="o365-browser-")
    procs = []
    try:
        run(tmp, procs)
    finally:
        for p in reversed(procs):
            p.terminate()
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"screenshots in {os.path.relpath(OUT, ROOT)}/")
    print(f"{checks} passed, 0 failed")


def run(tmp, procs):
    sim = subprocess.Popen([SIM, "serve", "--listen", "127.0.0.1:0", "--seed", "demo"],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    procs.append(sim)
    ready = json.loads(sim.stdout.readline())
    port, late_port = free_port(), free_port()
    origin = f"http://127.0.0.1:{port}"

    def config(offset_ms, at):
        return {
            "store": os.path.join(tmp, "o365.db"),
            "encryption_key": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
            "app": {"client_id": "11111111-2222-3333-4444-555555555555",
                    "redirect_uri": f"{origin}/o365/callback"},
            "endpoints": {"login": ready["url"], "graph": ready["url"] + "/v1.0"},
            "ca_file": ready["ca_file"],
            "sync": {"scheduler": False},
            "links": {"base_url": f"{at}/o365/link?t={{token}}", "language": "de"},
            "debug": {"clock_offset_ms": offset_ms},
        }

    cfg, late_cfg = os.path.join(tmp, "config.json"), os.path.join(tmp, "late.json")
    with open(cfg, "w") as f:
        json.dump(config(0, origin), f)
    with open(late_cfg, "w") as f:
        json.dump(config(15 * DAY_MS, f"http://127.0.0.1:{late_port}"), f)
    stats = os.path.join(tmp, "stats.jsonl")
    example = os.path.join(ROOT, "bindings", "php", "examples", "web")

    def serve(p, c):
        env = dict(os.environ, O365_LIB=LIB, O365_EXAMPLE_CONFIG=c, O365_EXAMPLE_STATS=stats,
                   PHP_CLI_SERVER_WORKERS="2")
        proc = subprocess.Popen([PHP, "-d", "ffi.enable=1", "-d", "memory_limit=64M", "-S", f"127.0.0.1:{p}",
                                 "-t", example, os.path.join(example, "index.php")],
                                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(proc)
        wait_http(f"http://127.0.0.1:{p}/", proc)

    serve(port, cfg)
    serve(late_port, late_cfg)

    def php(*args):
        env = dict(os.environ, O365_LIB=LIB, O365_EXAMPLE_CONFIG=cfg)
        out = subprocess.run([PHP, "-d", "ffi.enable=1", os.path.join(ROOT, "tests", "browser", "setup.php"), *args],
                             env=env, check=True, capture_output=True, text=True)
        return json.loads(out.stdout)

    # ---- the browser
    profile = os.path.join(tmp, "profile")
    downloads = os.path.join(tmp, "downloads")
    os.makedirs(downloads)
    chromium = subprocess.Popen(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", f"--user-data-dir={profile}", "--remote-debugging-port=0",
         "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    procs.append(chromium)
    active = os.path.join(profile, "DevToolsActivePort")
    while not os.path.exists(active) or len(open(active).read().splitlines()) < 2:
        if chromium.poll() is not None:
            raise RuntimeError(f"chromium exited with {chromium.returncode}")
        time.sleep(0.05)
    dport, dpath = open(active).read().splitlines()[:2]
    browser = cdp.Browser(f"ws://127.0.0.1:{dport}{dpath}")
    browser.cmd("Browser.setDownloadBehavior",
                {"behavior": "allowAndName", "downloadPath": downloads, "eventsEnabled": True})
    page = browser.page()

    def lang(header):
        page.cmd("Network.setExtraHTTPHeaders", {"headers": {"Accept-Language": header}})

    def shot(name, **kw):
        page.screenshot(os.path.join(OUT, name + ".png"), **kw)
        errors = page.console_errors()
        check(not errors, f"{name}: no console errors (CSP violations included): {errors}")

    def download(selector, expected_sha, what):
        guid_box = {}
        page.eval(f"document.querySelector({json.dumps(selector)}).click()")
        begin = browser.wait("Browser.downloadWillBegin", timeout=300)
        guid_box["guid"] = begin["guid"]
        done = browser.wait("Browser.downloadProgress",
                            lambda p: p["guid"] == begin["guid"] and p["state"] in ("completed", "canceled"),
                            timeout=900)
        check(done["state"] == "completed", f"{what}: download completed ({begin['suggestedFilename']})")
        check(sha256_file(os.path.join(downloads, begin["guid"])) == expected_sha,
              f"{what}: the downloaded file has the sent file's SHA-256")
        return begin["suggestedFilename"]

    # ---- the CRM signs the mailbox in through the example's callback route
    lang("de-DE,de;q=0.9")
    start = php("start")
    redirect = subprocess.run([SIM, "browse", "sign-in", "--url", start["authorize_url"],
                               "--user", "anna.schmidt@contoso.example", "--password", "Passw0rd!",
                               "--ca-file", ready["ca_file"]], check=True, capture_output=True,
                              text=True).stdout.strip()
    check(redirect.startswith(f"{origin}/o365/callback?"), "the sign-in comes back to the example")
    status = page.goto(redirect)
    check(status == 200 and "Signed in: anna.schmidt@contoso.example" in page.text(),
          "callback route completes the sign-in")

    # ---- the mails
    files = {"expose": os.path.join(tmp, "expose.pdf"), "plan": os.path.join(tmp, "plan.png"),
             "contract": os.path.join(tmp, "contract.pdf"), "big": os.path.join(tmp, "big.mp4")}
    with open(files["expose"], "wb") as f:
        f.write(b"%PDF-1.4\n% Expose Lindenstrasse 5\n" + os.urandom(300_000))
    with open(files["plan"], "wb") as f:
        f.write(png(64, 48, (200, 210, 230)))
    with open(files["contract"], "wb") as f:
        f.write(b"%PDF-1.4\n% Objektunterlagen\n" + os.urandom(50_000))
    with open(files["big"], "wb") as f:
        for _ in range(BIG // (1 << 20)):
            f.write(os.urandom(1 << 20))
    sha = {k: sha256_file(p) for k, p in files.items()}
    tokens = php("send", start["mailbox"], json.dumps(files))
    link = lambda t, at=origin: f"{at}/o365/link?t={t}"  # noqa: E731

    # ---- a download link, German
    status = page.goto(link(tokens["download"]))
    text = page.text()
    check(status == 200, "download link: 200")
    for want in ["Dokumente für Sie", "Anna Schmidt", "anna.schmidt@contoso.example",
                 "Ihr Exposé: 3-Zimmer-Wohnung Lindenstraße 5", "Verfügbar bis", "Exposé Lindenstraße 5.pdf",
                 "Grundriss.png", "Herunterladen"]:
        check(want in text, f"download page (de) shows {want!r}")
    shot("download-de")
    name = download("a.button[href*='f=0']", sha["expose"], "download link")
    check(name == "Exposé Lindenstraße 5.pdf", "the file keeps its name")
    download("a.button[href*='f=1']", sha["plan"], "second file")

    # ---- English, desktop and phone
    lang("en-US,en;q=0.9")
    page.goto(link(tokens["download"]))
    text = page.text()
    check("Documents for you" in text and "Available until" in text and "Download" in text,
          "download page in English from Accept-Language")
    shot("download-en")
    shot("download-en-phone", width=390, height=844, mobile=True)
    wide = page.eval("document.documentElement.scrollWidth <= window.innerWidth")
    check(wide, "no horizontal scrolling on a phone")
    page.cmd("Emulation.clearDeviceMetricsOverride")

    # ---- an agreement link: refused before acceptance, accepted with the keyboard
    lang("de-DE,de;q=0.9")
    status = page.goto(link(tokens["agreement"]))
    text = page.text()
    check(status == 200 and "Vereinbarung" in text and "vertraulich zu behandeln" in text,
          "agreement page shows the agreement text")
    check(page.eval("document.querySelectorAll(\"a[href*='f=']\").length") == 0,
          "no download link before acceptance")
    shot("agreement-de")
    status = page.goto(link(tokens["agreement"]) + "&f=0")
    check(status == 403 and "Bitte stimmen Sie zuerst zu" in page.text(),
          "the file itself is refused before acceptance (403)")
    shot("agreement-refused-de")
    page.goto(link(tokens["agreement"]))
    # submitting without the checkbox: the browser keeps the page (required field)
    page.eval("document.getElementById('accept').click()")
    check(page.eval("location.search.includes('a=')") is False, "no acceptance without the checkbox")
    page.eval("document.getElementById('agree').focus()")
    page.key(" ", "Space", " ", 32)
    check(page.eval("document.getElementById('agree').checked") is True, "checkbox works with the keyboard")
    status = page.submit_and_wait("document.getElementById('accept').focus(); document.getElementById('accept').click()")
    text = page.text()
    check(status == 200 and "Zustimmung wurde gespeichert" in text, "accepted: the page says so")
    shot("agreement-accepted-de")
    download("a.button[href*='f=0']", sha["contract"], "agreement link after acceptance")

    # ---- a tampered link
    t = tokens["download"]
    tampered = t[:5] + ("B" if t[5] == "A" else "A") + t[6:]
    status = page.goto(link(tampered))
    check(status == 400 and "Dieser Link ist ungültig" in page.text(), "tampered link: friendly 400 page")
    shot("invalid-de")
    lang("en")
    page.goto(link(tampered))
    check("This link is not valid" in page.text(), "tampered link page in English")
    shot("invalid-en")
    lang("de-DE,de;q=0.9")

    # ---- 100 MB streamed with bounded PHP memory
    open(stats, "w").close()
    page.goto(link(tokens["big"]))
    shot("big-de")
    download("a.button[href*='f=0']", sha["big"], "100 MB file")
    rows = [json.loads(line) for line in open(stats) if line.strip()]
    big_rows = [r for r in rows if r["streamed"] == BIG]
    check(len(big_rows) == 1, f"one streamed answer of the whole 100 MB file: {rows}")
    peak = big_rows[0]["peak"]
    check(peak < 16 * 1024 * 1024,
          f"PHP peak memory while streaming 100 MB: {peak / 1048576:.1f} MiB (< 16 MiB)")

    # ---- expired: the same store, 15 days later
    status = page.goto(link(tokens["download"], f"http://127.0.0.1:{late_port}"))
    check(status == 410 and "Dieser Link ist abgelaufen" in page.text(), "expired link: friendly 410 page")
    shot("expired-de")
    lang("en")
    page.goto(link(tokens["agreement"], f"http://127.0.0.1:{late_port}"))
    check("This link has expired" in page.text(), "expired page in English")
    shot("expired-en")


if __name__ == "__main__":
    main()
