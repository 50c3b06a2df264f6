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

pub fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title></head>\n<body>\n<h1>{}</h1>\n{}\n</body></html>\n",
        esc(title),
        esc(title),
        body
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
    app: &str,
    hint: &str,
    error: Option<(u32, &str)>,
) -> Response<Body> {
    let err = error.map(|(c, m)| error_block(c, m)).unwrap_or_default();
    html(page(
        "Sign in to your account",
        &format!(
            "<p>to continue to <span id=\"appName\">{app}</span></p>\n{err}\n<form method=\"post\" action=\"/{tenant}/login\" id=\"loginForm\">\n<input type=\"hidden\" name=\"ctx\" value=\"{ctx}\">\n<label>Email, phone, or Skype <input type=\"email\" name=\"login\" value=\"{hint}\" autocomplete=\"username\"></label>\n<label>Password <input type=\"password\" name=\"passwd\" autocomplete=\"current-password\"></label>\n<input type=\"submit\" id=\"idSIButton9\" value=\"Sign in\">\n</form>",
            app = esc(app),
            tenant = esc(tenant),
            ctx = esc(ctx),
            hint = esc(hint),
        ),
    ))
}

pub fn consent_page(
    tenant: &str,
    ctx: &str,
    app: &str,
    user: &str,
    scopes: &[String],
    for_org: bool,
) -> Response<Body> {
    let items: String = scopes
        .iter()
        .map(|s| format!("<li class=\"scope\">{}</li>", esc(s)))
        .collect();
    let org = if for_org {
        "<p id=\"orgConsent\">Accepting grants these permissions for your entire organization.</p>"
    } else {
        ""
    };
    html(page(
        "Permissions requested",
        &format!(
            "<p><span id=\"appName\">{app}</span> wants to access <span id=\"account\">{user}</span>:</p>\n<ul>{items}</ul>\n{org}\n<form method=\"post\" action=\"/{tenant}/consent\" id=\"consentForm\">\n<input type=\"hidden\" name=\"ctx\" value=\"{ctx}\">\n<button type=\"submit\" name=\"accept\" value=\"no\" id=\"idBtn_Back\">Cancel</button>\n<button type=\"submit\" name=\"accept\" value=\"yes\" id=\"idSIButton9\">Accept</button>\n</form>",
            app = esc(app),
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
            "<p>Enter the code displayed on your app or device.</p>\n{err}\n<form method=\"post\" action=\"/devicelogin\" id=\"deviceForm\">\n<input type=\"text\" name=\"otc\" autocomplete=\"off\">\n<input type=\"submit\" id=\"idSIButton9\" value=\"Next\">\n</form>"
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
