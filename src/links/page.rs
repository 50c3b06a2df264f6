//! The link page in HTML: German and English texts, the layout (inline CSS under a CSP nonce,
//! no script), the host's template / CSS / logo, `Accept-Language` and `Range` parsing.

use crate::error::{Error, Result};
use crate::store::links::LinkFile;
use chrono::{DateTime, Datelike, Timelike, Utc};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    De,
    En,
}

impl Lang {
    pub fn code(self) -> &'static str {
        match self {
            Lang::De => "de",
            Lang::En => "en",
        }
    }
}

/// The language for an `Accept-Language` header: the first of `de` / `en` by weight, else
/// the configured default.
pub fn pick_lang(accept_language: Option<&str>, default: &str) -> Lang {
    let fallback = if default == "en" { Lang::En } else { Lang::De };
    let Some(h) = accept_language else {
        return fallback;
    };
    let mut best: Option<(f32, usize, Lang)> = None;
    for (pos, part) in h.split(',').enumerate().take(32) {
        let mut it = part.split(';');
        let tag = it.next().unwrap_or("").trim().to_ascii_lowercase();
        let q = it
            .filter_map(|p| p.trim().strip_prefix("q="))
            .find_map(|v| v.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        let primary = tag.split('-').next().unwrap_or("");
        let lang = match primary {
            "de" => Lang::De,
            "en" => Lang::En,
            _ => continue,
        };
        if q <= 0.0 {
            continue;
        }
        if best.map_or(true, |(bq, bpos, _)| q > bq || (q == bq && pos < bpos)) {
            best = Some((q, pos, lang));
        }
    }
    best.map(|b| b.2).unwrap_or(fallback)
}

/// The page's texts in one language.
pub struct Texts {
    pub title_files: &'static str,
    pub from: &'static str,
    pub subject: &'static str,
    pub available_until: &'static str,
    pub files: &'static str,
    pub download: &'static str,
    pub agreement_heading: &'static str,
    pub agreement_intro: &'static str,
    pub agree_label: &'static str,
    pub agree_button: &'static str,
    pub agree_missing: &'static str,
    pub accepted_note: &'static str,
    pub locked: &'static str,
    pub personal_note: &'static str,
    pub sealed_note: &'static str,
    pub expired_title: &'static str,
    pub expired_text: &'static str,
    pub invalid_title: &'static str,
    pub invalid_text: &'static str,
    pub purged_title: &'static str,
    pub purged_text: &'static str,
    pub forbidden_title: &'static str,
    pub forbidden_text: &'static str,
    pub stale_form_title: &'static str,
    pub stale_form_text: &'static str,
    pub no_file_title: &'static str,
    pub no_file_text: &'static str,
    pub back: &'static str,
    pub shared_by: &'static str,
    pub months: [&'static str; 12],
}

pub fn texts(lang: Lang) -> &'static Texts {
    match lang {
        Lang::De => &DE,
        Lang::En => &EN,
    }
}

static DE: Texts = Texts {
    title_files: "Dokumente für Sie",
    from: "Von",
    subject: "Betreff",
    available_until: "Verfügbar bis",
    files: "Dateien",
    download: "Herunterladen",
    agreement_heading: "Vereinbarung",
    agreement_intro: "Bitte lesen Sie die folgende Vereinbarung. Die Dateien stehen bereit, sobald Sie zugestimmt haben.",
    agree_label: "Ich habe die Vereinbarung gelesen und stimme ihr zu.",
    agree_button: "Zustimmen und Dateien freigeben",
    agree_missing: "Bitte bestätigen Sie, dass Sie der Vereinbarung zustimmen.",
    accepted_note: "Vielen Dank, Ihre Zustimmung wurde gespeichert. Sie können die Dateien jetzt herunterladen.",
    locked: "nach Zustimmung verfügbar",
    personal_note: "Dieser Link ist persönlich für Sie bestimmt. Bitte leiten Sie ihn nicht weiter.",
    sealed_note: "Die Dateien werden verschlüsselt aufbewahrt und nach Ablauf automatisch gelöscht.",
    expired_title: "Dieser Link ist abgelaufen",
    expired_text: "Die Dateien standen bis {date} zur Verfügung und sind nicht mehr abrufbar. Bitte wenden Sie sich an den Absender, wenn Sie die Unterlagen erneut benötigen.",
    invalid_title: "Dieser Link ist ungültig",
    invalid_text: "Der Link wurde verändert oder ist unvollständig. Bitte öffnen Sie ihn genau so, wie er in der E-Mail steht – am besten durch Anklicken.",
    purged_title: "Diese Dateien sind nicht mehr verfügbar",
    purged_text: "Die Dateien zu diesem Link wurden gelöscht. Bitte wenden Sie sich an den Absender, wenn Sie die Unterlagen erneut benötigen.",
    forbidden_title: "Bitte stimmen Sie zuerst zu",
    forbidden_text: "Diese Dateien werden erst nach Zustimmung zur Vereinbarung freigegeben.",
    stale_form_title: "Bitte erneut versuchen",
    stale_form_text: "Das Formular ist abgelaufen oder wurde nicht von dieser Seite gesendet. Bitte laden Sie die Seite neu und stimmen Sie erneut zu.",
    no_file_title: "Datei nicht gefunden",
    no_file_text: "Diese Datei gehört nicht zu diesem Link.",
    back: "Zurück zur Übersicht",
    shared_by: "Bereitgestellt von",
    months: [
        "Januar", "Februar", "März", "April", "Mai", "Juni", "Juli", "August", "September",
        "Oktober", "November", "Dezember",
    ],
};

static EN: Texts = Texts {
    title_files: "Documents for you",
    from: "From",
    subject: "Subject",
    available_until: "Available until",
    files: "Files",
    download: "Download",
    agreement_heading: "Agreement",
    agreement_intro: "Please read the following agreement. The files become available once you have accepted it.",
    agree_label: "I have read the agreement and accept it.",
    agree_button: "Accept and show the files",
    agree_missing: "Please confirm that you accept the agreement.",
    accepted_note: "Thank you, your acceptance has been recorded. You can now download the files.",
    locked: "available after acceptance",
    personal_note: "This link is meant for you personally. Please do not forward it.",
    sealed_note: "The files are stored encrypted and deleted automatically when the link expires.",
    expired_title: "This link has expired",
    expired_text: "The files were available until {date} and can no longer be retrieved. Please contact the sender if you need the documents again.",
    invalid_title: "This link is not valid",
    invalid_text: "The link was changed or is incomplete. Please open it exactly as it appears in the e-mail, ideally by clicking it.",
    purged_title: "These files are no longer available",
    purged_text: "The files of this link have been deleted. Please contact the sender if you need the documents again.",
    forbidden_title: "Please accept the agreement first",
    forbidden_text: "These files are released only after the agreement has been accepted.",
    stale_form_title: "Please try again",
    stale_form_text: "The form has expired or was not sent from this page. Please reload the page and accept again.",
    no_file_title: "File not found",
    no_file_text: "This file does not belong to this link.",
    back: "Back to the overview",
    shared_by: "Shared by",
    months: [
        "January", "February", "March", "April", "May", "June", "July", "August", "September",
        "October", "November", "December",
    ],
};

/// `13. Dezember 2026, 14:05 UTC` / `13 December 2026, 14:05 UTC`.
pub fn date(lang: Lang, ms: i64) -> String {
    let d: DateTime<Utc> = DateTime::from_timestamp_millis(ms).unwrap_or_default();
    let month = texts(lang).months[d.month0() as usize];
    let sep = if lang == Lang::De { "." } else { "" };
    format!(
        "{}{sep} {month} {}, {:02}:{:02} UTC",
        d.day(),
        d.year(),
        d.hour(),
        d.minute()
    )
}

/// `1,5 MB` / `1.5 MB`.
pub fn size(lang: Lang, bytes: i64) -> String {
    let b = bytes.max(0) as f64;
    let (v, unit) = if b >= 1e9 {
        (b / 1e9, "GB")
    } else if b >= 1e6 {
        (b / 1e6, "MB")
    } else if b >= 1e3 {
        (b / 1e3, "KB")
    } else {
        return format!(
            "{bytes} {}",
            if lang == Lang::De { "Byte" } else { "bytes" }
        );
    };
    let s = format!("{v:.1} {unit}");
    if lang == Lang::De {
        s.replace('.', ",")
    } else {
        s
    }
}

/// A short, readable type for a file: `PDF`, `JPG`, ... from the name, else from the type.
pub fn kind_label(f: &LinkFile) -> String {
    let ext =
        f.name.rsplit_once('.').map(|(_, e)| e).filter(|e| {
            !e.is_empty() && e.len() <= 5 && e.chars().all(|c| c.is_ascii_alphanumeric())
        });
    match ext {
        Some(e) => e.to_ascii_uppercase(),
        None => f
            .content_type
            .rsplit('/')
            .next()
            .unwrap_or("file")
            .chars()
            .take(5)
            .collect::<String>()
            .to_ascii_uppercase(),
    }
}

/// HTML-escapes text for element content and quoted attributes.
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 8);
    for ch in s.chars() {
        match ch {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            _ => o.push(ch),
        }
    }
    o
}

/// The page's own style (WCAG AA contrast, large touch targets, visible focus).
pub const CSS: &str = r#"
:root{--ink:#1c2430;--muted:#4a5565;--line:#d9dee5;--bg:#f3f5f8;--card:#fff;--accent:#0b5cad;--accent-ink:#fff;--warn:#8a1c1c;--ok:#1d5e2f}
*{box-sizing:border-box}
html{font-size:100%}
body{margin:0;background:var(--bg);color:var(--ink);font:1rem/1.55 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
main{max-width:42rem;margin:0 auto;padding:1.5rem 1rem 3rem}
.card{background:var(--card);border:1px solid var(--line);border-radius:12px;padding:1.5rem;box-shadow:0 1px 3px rgba(20,30,45,.06)}
.card>:last-child{margin-bottom:0}
header.brand{display:flex;align-items:center;gap:.75rem;margin:0 0 1rem}
header.brand img{max-height:48px;max-width:12rem}
h1{font-size:1.5rem;line-height:1.25;margin:0 0 1rem}
h2{font-size:1.1rem;margin:1.5rem 0 .5rem}
dl.meta{display:grid;grid-template-columns:max-content 1fr;gap:.25rem 1rem;margin:0 0 1rem}
dl.meta dt{color:var(--muted)}
dl.meta dd{margin:0;overflow-wrap:anywhere}
ul.files{list-style:none;margin:0;padding:0;border-top:1px solid var(--line)}
ul.files li{display:flex;align-items:center;gap:.75rem;padding:.75rem 0;border-bottom:1px solid var(--line)}
.badge{flex:none;width:3rem;height:3rem;border-radius:8px;background:#e8eef6;color:var(--accent);font-weight:700;font-size:.8rem;display:flex;align-items:center;justify-content:center}
.file{flex:1;min-width:0}
.file .name{display:block;font-weight:600;overflow-wrap:anywhere}
.file .info{display:block;color:var(--muted);font-size:.9rem}
a.button,button{display:inline-block;min-height:44px;padding:.65rem 1.1rem;border-radius:8px;border:0;background:var(--accent);color:var(--accent-ink);font:inherit;font-weight:600;text-decoration:none;cursor:pointer;text-align:center}
a.button:hover,button:hover{background:#084a8c}
a:focus-visible,button:focus-visible,input:focus-visible{outline:3px solid #f0a500;outline-offset:2px}
.locked{color:var(--muted);font-size:.9rem}
.agreement{white-space:pre-wrap;border:1px solid var(--line);border-radius:8px;background:#fafbfc;padding:1rem;max-height:24rem;overflow:auto}
form.accept{margin-top:1rem}
label.check{display:flex;gap:.6rem;align-items:flex-start;margin:0 0 1rem;cursor:pointer}
label.check input{width:1.4rem;height:1.4rem;flex:none;margin-top:.1rem}
.notice{border-radius:8px;padding:.75rem 1rem;margin:0 0 1rem}
.notice.error{background:#fdecec;color:var(--warn);border:1px solid #f3c2c2}
.notice.ok{background:#e9f6ed;color:var(--ok);border:1px solid #bfe3c9}
footer{color:var(--muted);font-size:.875rem;margin-top:1.25rem}
footer p{margin:.25rem 0}
@media (max-width:30rem){main{padding:.75rem .5rem 2rem}.card{padding:1rem}dl.meta{grid-template-columns:1fr;gap:0}dl.meta dd{margin-bottom:.5rem}ul.files li{flex-wrap:wrap}a.button{width:100%}}
"#;

/// Built-in frame of the page; `links.template` replaces it.
const FRAME: &str = r#"<!DOCTYPE html>
<html lang="{{lang}}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex, nofollow">
<title>{{title}}</title>
{{head}}
</head>
<body>
<main>
{{logo}}
<div class="card">
{{content}}
</div>
{{footer}}
</main>
</body>
</html>
"#;

/// What the host configured to restyle the page.
pub struct Look<'a> {
    pub template: Option<&'a str>,
    pub css: Option<&'a str>,
    pub logo_url: Option<&'a str>,
}

/// The whole document: frame (built-in or the host's template) around `content`.
pub fn document(
    lang: Lang,
    look: &Look<'_>,
    nonce: &str,
    title: &str,
    content: &str,
    footer: &str,
) -> String {
    let head = format!(
        "<style nonce=\"{nonce}\">{CSS}{}</style>",
        look.css.unwrap_or("")
    );
    let logo = look
        .logo_url
        .map(|u| {
            format!(
                "<header class=\"brand\"><img src=\"{}\" alt=\"\"></header>",
                esc(u)
            )
        })
        .unwrap_or_default();
    let frame = look.template.unwrap_or(FRAME);
    // One pass, so text inside content can never be taken for a placeholder.
    let vals: BTreeMap<&str, String> = [
        ("lang", lang.code().to_owned()),
        ("title", esc(title)),
        ("head", head),
        ("logo", logo),
        ("content", content.to_owned()),
        ("footer", footer.to_owned()),
        ("nonce", nonce.to_owned()),
    ]
    .into_iter()
    .collect();
    let mut out = String::with_capacity(frame.len() + content.len() + CSS.len() + 256);
    let mut rest = frame;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        match after.find("}}") {
            Some(end) if vals.contains_key(after[..end].trim()) => {
                out.push_str(&vals[after[..end].trim()]);
                rest = &after[end + 2..];
            }
            _ => {
                out.push_str("{{");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// The Content-Security-Policy for a page: no script at all, styles only with the nonce,
/// images only from the configured logo, forms only to this origin, no framing.
pub fn csp(nonce: &str, logo_url: Option<&str>) -> String {
    let img = match logo_url {
        Some(u) if u.starts_with("data:") => "data:".to_owned(),
        Some(u) => url::Url::parse(u)
            .ok()
            .map(|p| p.origin().ascii_serialization())
            .filter(|o| o != "null")
            .unwrap_or_else(|| "'none'".into()),
        None => "'none'".into(),
    };
    format!(
        "default-src 'none'; style-src 'nonce-{nonce}'; img-src {img}; form-action 'self'; \
         base-uri 'none'; frame-ancestors 'none'"
    )
}

/// A byte range asked for with `Range`.
#[derive(Debug, PartialEq, Eq)]
pub enum RangeAsk {
    /// No (usable) Range header: the whole file.
    Whole,
    /// `[start, end]`, inclusive, within the file.
    Part(u64, u64),
    /// Cannot be satisfied (416).
    Unsatisfiable,
}

/// Parses a `Range` header for a file of `size` bytes (RFC 9110 14.2). Several ranges or
/// another unit are answered with the whole file, as the RFC allows.
pub fn parse_range(header: Option<&str>, size: u64) -> RangeAsk {
    let Some(h) = header.map(str::trim).filter(|h| !h.is_empty()) else {
        return RangeAsk::Whole;
    };
    let Some(spec) = h.strip_prefix("bytes=") else {
        return RangeAsk::Whole;
    };
    if spec.contains(',') {
        return RangeAsk::Whole;
    }
    let Some((a, b)) = spec.trim().split_once('-') else {
        return RangeAsk::Whole;
    };
    let (a, b) = (a.trim(), b.trim());
    let num = |s: &str| -> Option<u64> {
        if s.is_empty() || !s.bytes().all(|c| c.is_ascii_digit()) {
            None
        } else {
            s.parse().ok()
        }
    };
    match (a.is_empty(), b.is_empty()) {
        (true, true) => RangeAsk::Whole,
        (true, false) => match num(b) {
            // suffix: the last n bytes
            Some(0) => RangeAsk::Unsatisfiable,
            Some(n) if size > 0 => RangeAsk::Part(size.saturating_sub(n), size - 1),
            Some(_) => RangeAsk::Unsatisfiable,
            None => RangeAsk::Whole,
        },
        (false, _) => {
            let Some(start) = num(a) else {
                return RangeAsk::Whole;
            };
            let end = if b.is_empty() {
                u64::MAX
            } else {
                match num(b) {
                    Some(e) if e >= start => e,
                    _ => return RangeAsk::Whole,
                }
            };
            if start >= size {
                RangeAsk::Unsatisfiable
            } else {
                RangeAsk::Part(start, end.min(size - 1))
            }
        }
    }
}

/// `attachment; filename="..."; filename*=UTF-8''...` with a safe ASCII fallback.
pub fn content_disposition(name: &str) -> String {
    let ascii: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let enc = crate::encoding::encode(name, crate::encoding::ATTR_CHAR);
    format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{enc}")
}

/// The request's form and query values are strings; anything else counts as missing.
pub fn field<'a>(m: &'a BTreeMap<String, serde_json::Value>, name: &str) -> Option<&'a str> {
    m.get(name).and_then(|v| v.as_str())
}

/// Refuses a request field that is too long or has control characters.
pub fn check_header(field: &str, v: Option<&str>, max: usize) -> Result<()> {
    if let Some(v) = v {
        if v.len() > max || v.chars().any(|c| c.is_control() && c != '\t') {
            return Err(Error::invalid_field(
                field,
                format!("{field} must be at most {max} characters without control characters"),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_language_picks_by_weight_then_order() {
        assert_eq!(pick_lang(None, "de"), Lang::De);
        assert_eq!(pick_lang(None, "en"), Lang::En);
        assert_eq!(pick_lang(Some("en-US,en;q=0.9,de;q=0.8"), "de"), Lang::En);
        assert_eq!(
            pick_lang(Some("fr-FR, de-AT;q=0.5, en;q=0.4"), "en"),
            Lang::De
        );
        assert_eq!(pick_lang(Some("fr"), "en"), Lang::En);
        assert_eq!(pick_lang(Some("de;q=0, en;q=0.1"), "de"), Lang::En);
        assert_eq!(pick_lang(Some(";;,,q=,"), "de"), Lang::De);
    }

    #[test]
    fn ranges() {
        use RangeAsk::*;
        assert_eq!(parse_range(None, 100), Whole);
        assert_eq!(parse_range(Some("bytes=0-9"), 100), Part(0, 9));
        assert_eq!(parse_range(Some("bytes=90-"), 100), Part(90, 99));
        assert_eq!(parse_range(Some("bytes=90-500"), 100), Part(90, 99));
        assert_eq!(parse_range(Some("bytes=-10"), 100), Part(90, 99));
        assert_eq!(parse_range(Some("bytes=-500"), 100), Part(0, 99));
        assert_eq!(parse_range(Some("bytes=100-"), 100), Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=-0"), 100), Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=0-"), 0), Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=5-3"), 100), Whole);
        assert_eq!(parse_range(Some("bytes=0-1,5-6"), 100), Whole);
        assert_eq!(parse_range(Some("items=0-1"), 100), Whole);
        assert_eq!(parse_range(Some("bytes=x-1"), 100), Whole);
    }

    #[test]
    fn template_placeholders_are_filled_once() {
        let look = Look {
            template: Some("<html lang={{lang}}>{{head}}<b>{{content}}</b>{{unknown}}"),
            css: Some("body{color:red}"),
            logo_url: None,
        };
        let d = document(Lang::En, &look, "N", "t", "{{title}}", "");
        assert!(d.starts_with("<html lang=en><style nonce=\"N\">"));
        assert!(d.contains("body{color:red}</style><b>{{title}}</b>{{unknown}}"));
    }

    #[test]
    fn sizes_dates_and_names() {
        assert_eq!(size(Lang::De, 1_500_000), "1,5 MB");
        assert_eq!(size(Lang::En, 1_500_000), "1.5 MB");
        assert_eq!(size(Lang::De, 12), "12 Byte");
        assert_eq!(date(Lang::De, 0), "1. Januar 1970, 00:00 UTC");
        assert_eq!(date(Lang::En, 0), "1 January 1970, 00:00 UTC");
        assert_eq!(
            content_disposition("Exposé \"A\".pdf"),
            "attachment; filename=\"Expos_ _A_.pdf\"; filename*=UTF-8''Expos%C3%A9%20%22A%22.pdf"
        );
        assert_eq!(
            esc("<a href='x'>&</a>"),
            "&lt;a href=&#39;x&#39;&gt;&amp;&lt;/a&gt;"
        );
    }
}
