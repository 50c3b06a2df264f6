//! The body macros of seed point 11: `_downloadLink(Text)` and `_agreementLink` (optionally
//! `_agreementLink(Text)`). Both become a link to the mail's attachments, which are then not
//! attached; `_agreementLink` makes the recipient accept an agreement before downloading.

const DOWNLOAD: &str = "_downloadLink(";
const AGREEMENT: &str = "_agreementLink";

/// Label of a bare `_agreementLink`.
pub const DEFAULT_AGREEMENT_LABEL: &str = "Download";

/// Which macros a body uses.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Uses {
    pub download: bool,
    pub agreement: bool,
}

impl Uses {
    pub fn any(self) -> bool {
        self.download || self.agreement
    }
}

enum Piece<'a> {
    Text(&'a str),
    Link(&'a str),
}

/// Splits a body into plain text and macro labels.
fn pieces(body: &str) -> (Vec<Piece<'_>>, Uses) {
    let mut out = Vec::new();
    let mut uses = Uses::default();
    let mut rest = body;
    loop {
        let d = rest.find(DOWNLOAD);
        let a = rest.find(AGREEMENT);
        let (at, download) = match (d, a) {
            (Some(d), Some(a)) if d < a => (d, true),
            (Some(d), None) => (d, true),
            (_, Some(a)) => (a, false),
            (None, None) => break,
        };
        out.push(Piece::Text(&rest[..at]));
        if download {
            let after = &rest[at + DOWNLOAD.len()..];
            match after.find(')') {
                Some(close) if !after[..close].contains('\n') => {
                    let label = after[..close].trim();
                    out.push(Piece::Link(if label.is_empty() {
                        "Download"
                    } else {
                        label
                    }));
                    uses.download = true;
                    rest = &after[close + 1..];
                }
                _ => {
                    // Not a complete macro: keep the text as written.
                    out.push(Piece::Text(&rest[at..at + DOWNLOAD.len()]));
                    rest = after;
                }
            }
        } else {
            let after = &rest[at + AGREEMENT.len()..];
            uses.agreement = true;
            if let Some(inner) = after.strip_prefix('(') {
                if let Some(close) = inner.find(')').filter(|c| !inner[..*c].contains('\n')) {
                    let label = inner[..close].trim();
                    out.push(Piece::Link(if label.is_empty() {
                        DEFAULT_AGREEMENT_LABEL
                    } else {
                        label
                    }));
                    rest = &inner[close + 1..];
                    continue;
                }
            }
            out.push(Piece::Link(DEFAULT_AGREEMENT_LABEL));
            rest = after;
        }
    }
    out.push(Piece::Text(rest));
    (out, uses)
}

/// Which macros `body` uses.
pub fn scan(body: &str) -> Uses {
    pieces(body).1
}

fn escape_attr(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn escape_text(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Replaces every macro with a link to `url`: `<a href="url">Text</a>` in HTML bodies,
/// `Text: url` in text bodies. In HTML the label is shown as text (escaped).
pub fn expand(body: &str, html: bool, url: &str) -> String {
    let (parts, _) = pieces(body);
    let mut out = String::with_capacity(body.len() + 128);
    for p in parts {
        match p {
            Piece::Text(t) => out.push_str(t),
            Piece::Link(label) if html => {
                out.push_str(&format!(
                    "<a href=\"{}\">{}</a>",
                    escape_attr(url),
                    escape_text(label)
                ));
            }
            Piece::Link(label) => out.push_str(&format!("{label}: {url}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn download_link_in_html_and_text() {
        let url = "https://crm.example/l/abc.def";
        assert_eq!(
            expand("<p>Hier: _downloadLink(Exposé)</p>", true, url),
            "<p>Hier: <a href=\"https://crm.example/l/abc.def\">Exposé</a></p>"
        );
        assert_eq!(
            expand("Hier: _downloadLink(Exposé)!", false, url),
            "Hier: Exposé: https://crm.example/l/abc.def!"
        );
        assert_eq!(
            scan("_downloadLink(Exposé)"),
            Uses {
                download: true,
                agreement: false
            }
        );
    }

    #[test]
    fn agreement_link_bare_and_labelled() {
        let url = "https://crm.example/l/t";
        assert_eq!(
            expand("Bitte _agreementLink lesen", false, url),
            "Bitte Download: https://crm.example/l/t lesen"
        );
        assert_eq!(
            expand("_agreementLink(Unterlagen) und _downloadLink(A<b>)", true, url),
            "<a href=\"https://crm.example/l/t\">Unterlagen</a> und <a href=\"https://crm.example/l/t\">A&lt;b&gt;</a>"
        );
        assert_eq!(
            scan("x _agreementLink y"),
            Uses {
                download: false,
                agreement: true
            }
        );
    }

    #[test]
    fn incomplete_or_absent_macros_stay_text() {
        assert!(!scan("no macro here").any());
        assert!(!scan("_downloadLink(unclosed\n)").any());
        assert_eq!(
            expand("_downloadLink(unclosed", false, "u"),
            "_downloadLink(unclosed"
        );
    }
}
