//! Mailbox records: validation of addresses, users and settings; the JSON the host sees.

use crate::error::{Error, Result};
use crate::store::MailboxRecord;
use serde::{Deserialize, Serialize};

/// Per-mailbox settings. Unknown names are rejected.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Book mail sent from Outlook (outside the CRM) as activities (seed point 10).
    #[serde(default = "yes")]
    pub book_external_sent: bool,
    /// Keep the mailbox fresh with the background scheduler.
    #[serde(default = "yes")]
    pub background_sync: bool,
    /// Mail sent from this time on (RFC 3339) is booked; set at the first sign-in and each
    /// time booking is switched on. A host sets it earlier to backfill.
    #[serde(default)]
    pub book_external_sent_since: Option<String>,
}

fn yes() -> bool {
    true
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            book_external_sent: true,
            background_sync: true,
            book_external_sent_since: None,
        }
    }
}

/// The start of a booking window: `now` floored to the second, because Microsoft's
/// `sentDateTime` has whole seconds.
pub fn booking_start(now_ms: i64) -> String {
    crate::clock::rfc3339(now_ms - now_ms.rem_euclid(1000))
}

/// The start of booking when it is switched back on: the next whole second (`now` itself
/// when it is one). Microsoft's `sentDateTime` has whole seconds, so a mail sent while
/// booking was off, in the same second as switching it on, is never booked (one sent
/// after switching on, still in that second, is not booked either: the price of Graph's
/// precision).
pub fn booking_restart(now_ms: i64) -> String {
    crate::clock::rfc3339(now_ms + (1000 - now_ms.rem_euclid(1000)) % 1000)
}

/// A partial settings object for `o365_update_mailbox`.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SettingsPatch {
    pub book_external_sent: Option<bool>,
    pub background_sync: Option<bool>,
    pub book_external_sent_since: Option<String>,
}

impl Settings {
    pub fn from_record(m: &MailboxRecord) -> Settings {
        serde_json::from_value(m.settings.clone()).unwrap_or_default()
    }

    /// Applies a patch at time `now_ms`. Switching booking on starts it at `now_ms`: mail
    /// sent while it was off is never booked.
    pub fn apply(&mut self, p: &SettingsPatch, now_ms: i64) -> crate::error::Result<()> {
        if let Some(v) = p.book_external_sent {
            if v && !self.book_external_sent && self.book_external_sent_since.is_some() {
                self.book_external_sent_since = Some(booking_restart(now_ms));
            }
            self.book_external_sent = v;
        }
        if let Some(v) = p.background_sync {
            self.background_sync = v;
        }
        if let Some(t) = &p.book_external_sent_since {
            crate::clock::parse_rfc3339(t).ok_or_else(|| {
                Error::invalid_field(
                    "settings.book_external_sent_since",
                    format!("'{t}' is not an RFC 3339 time"),
                )
            })?;
            self.book_external_sent_since = Some(t.clone());
        }
        Ok(())
    }

    /// Start of booking in ms, if booking has started.
    pub fn booking_since_ms(&self) -> Option<i64> {
        self.book_external_sent_since
            .as_deref()
            .and_then(crate::clock::parse_rfc3339)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    User,
    Alias,
    Shared,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::User => "user",
            Kind::Alias => "alias",
            Kind::Shared => "shared",
        }
    }
}

/// Normalises and checks an e-mail address (lower case; RFC 5321 lengths; no spaces or
/// control characters; a dotted domain).
pub fn normalize_address(field: &str, raw: &str) -> Result<String> {
    let a = raw.trim();
    let bad = |why: &str| {
        Error::invalid_field(
            field,
            format!("'{raw}' is not a valid e-mail address: {why}"),
        )
        .with_hint("give the complete address, e.g. anna.schmidt@contoso.com")
    };
    if a.is_empty() {
        return Err(bad("empty"));
    }
    if a.len() > 254 {
        return Err(bad("longer than 254 characters"));
    }
    if a.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad("contains spaces or control characters"));
    }
    let (local, domain) = a.rsplit_once('@').ok_or_else(|| bad("no '@'"))?;
    if local.is_empty() || local.len() > 64 || local.contains('@') {
        return Err(bad("the part before '@' must be 1 to 64 characters"));
    }
    if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
        return Err(bad("misplaced dot before '@'"));
    }
    if local.chars().any(|c| {
        matches!(
            c,
            '<' | '>'
                | '('
                | ')'
                | '['
                | ']'
                | ','
                | ';'
                | ':'
                | '\\'
                | '"'
                | '#'
                | '?'
                | '/'
                | '%'
        )
    }) {
        return Err(bad(
            "special characters before '@' (< > ( ) [ ] , ; : \\ \" # ? / % are refused)",
        ));
    }
    let labels: Vec<&str> = domain.split('.').collect();
    if labels.len() < 2 {
        return Err(bad("the domain needs a dot"));
    }
    for l in &labels {
        if l.is_empty()
            || l.len() > 63
            || l.starts_with('-')
            || l.ends_with('-')
            || !l.chars().all(|c| c.is_alphanumeric() || c == '-')
        {
            return Err(bad("invalid domain"));
        }
    }
    Ok(a.to_lowercase())
}

/// Checks a CRM user id.
pub fn check_user(field: &str, u: &str) -> Result<()> {
    if u.is_empty() || u.len() > 256 || u.chars().any(|c| c.is_control()) {
        return Err(Error::invalid_field(
            field,
            format!(
                "'{u}' is not a valid CRM user id (1 to 256 characters, no control characters)"
            ),
        ));
    }
    Ok(())
}

/// Checks a user list and main user; returns the main user.
pub fn check_users(users: &[String], main_user: Option<&str>) -> Result<String> {
    if users.is_empty() {
        return Err(Error::invalid_field(
            "users",
            "at least one CRM user must be assigned",
        ));
    }
    for (i, u) in users.iter().enumerate() {
        check_user("users", u)?;
        if users[..i].contains(u) {
            return Err(Error::invalid_field(
                "users",
                format!("user '{u}' is listed twice"),
            ));
        }
    }
    match main_user {
        None => Ok(users[0].clone()),
        Some(m) if users.iter().any(|u| u == m) => Ok(m.to_owned()),
        Some(m) => Err(Error::invalid_field(
            "main_user",
            format!("main user '{m}' is not among the assigned users"),
        )
        .with_hint("add the main user to 'users', or pick one of them")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        assert_eq!(
            normalize_address("a", " Anna.Schmidt@Contoso.Example ").unwrap(),
            "anna.schmidt@contoso.example"
        );
        for bad in [
            "",
            "anna",
            "anna@",
            "@x.de",
            "a b@x.de",
            "a@x",
            "a@-x.de",
            "a@x..de",
            "a\r\n@x.de",
            "a..b@x.de",
            "<a>@x.de",
        ] {
            assert!(normalize_address("a", bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn booking_switched_back_on_skips_mail_sent_while_off_in_the_same_second() {
        let mut s = Settings {
            book_external_sent: true,
            background_sync: true,
            book_external_sent_since: Some(booking_start(1_000_000)),
        };
        let off = SettingsPatch {
            book_external_sent: Some(false),
            ..Default::default()
        };
        let on = SettingsPatch {
            book_external_sent: Some(true),
            ..Default::default()
        };
        // Off at 2000.100 s; Outlook sends at 2000.400 s (Graph: sentDateTime 2000 s);
        // on again at 2000.900 s.
        s.apply(&off, 2_000_100).unwrap();
        s.apply(&on, 2_000_900).unwrap();
        let since = s.booking_since_ms().unwrap();
        let sent_while_off = 2_000_000; // whole seconds, as Graph reports it
        assert!(sent_while_off < since, "not booked: since {since}");
        assert_eq!(since, 2_001_000);
        assert!(2_001_000 >= since, "a mail of the next second is booked");
        // Switching on exactly at a whole second starts there.
        s.apply(&off, 3_000_000).unwrap();
        s.apply(&on, 4_000_000).unwrap();
        assert_eq!(s.booking_since_ms(), Some(4_000_000));
    }

    #[test]
    fn url_characters_are_refused_or_kept_for_encoding() {
        for c in ['#', '?', '/'] {
            let e = normalize_address("address", &format!("a{c}b@contoso.example")).unwrap_err();
            assert_eq!(e.status(), crate::error::status::INVALID_ARGUMENT, "{c}");
            assert_eq!(e.fault().details["field"], "address", "{c}");
            assert!(normalize_address("address", &format!("ab@con{c}toso.example")).is_err());
        }
        // An apostrophe is common in real addresses: kept, and percent-encoded in URLs.
        let a = normalize_address("address", "O'Brien@contoso.example").unwrap();
        assert_eq!(a, "o'brien@contoso.example");
        assert_eq!(
            crate::graph::user_path(&a),
            "users/o%27brien@contoso.example"
        );
    }

    #[test]
    fn users_and_main_user() {
        let u = vec!["u1".to_string(), "u2".to_string()];
        assert_eq!(check_users(&u, None).unwrap(), "u1");
        assert_eq!(check_users(&u, Some("u2")).unwrap(), "u2");
        assert_eq!(
            check_users(&u, Some("u3")).unwrap_err().fault().details["field"],
            "main_user"
        );
        assert!(check_users(&[], None).is_err());
        assert!(check_users(&["a".into(), "a".into()], None).is_err());
    }
}
