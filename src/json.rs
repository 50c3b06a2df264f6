//! Request decoding with errors a host developer can act on.

use crate::error::{Error, Result};
use serde::de::DeserializeOwned;

/// Parses a request or config JSON object into `T`, mapping serde's errors to
/// `invalid_argument` documents: `malformed_json`, `unknown_field`, `missing_field`,
/// `invalid_field` (wrong type or value), `not_an_object`.
pub fn from_str<T: DeserializeOwned>(json: &str) -> Result<T> {
    let trimmed = json.trim_start();
    if !trimmed.starts_with('{') {
        // Syntax first: a non-object that is not even JSON is malformed.
        if serde_json::from_str::<serde::de::IgnoredAny>(json).is_err() {
            return Err(malformed(json));
        }
        return Err(Error::invalid(
            "not_an_object",
            "the request must be a JSON object",
        ));
    }
    serde_json::from_str::<T>(json).map_err(|e| classify(&e))
}

fn malformed(json: &str) -> Error {
    let e = serde_json::from_str::<serde::de::IgnoredAny>(json)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    Error::invalid("malformed_json", format!("malformed JSON: {e}"))
}

fn classify(e: &serde_json::Error) -> Error {
    use serde_json::error::Category;
    let text = e.to_string();
    match e.classify() {
        Category::Syntax | Category::Eof | Category::Io => {
            Error::invalid("malformed_json", format!("malformed JSON: {text}"))
        }
        Category::Data => {
            if let Some(name) = backticked(&text, "unknown field `") {
                Error::invalid("unknown_field", format!("unknown field '{name}' in request"))
                    .with_detail("field", name)
                    .with_hint(
                        "remove the field; the library rejects names it does not know so typos never pass silently",
                    )
            } else if let Some(name) = backticked(&text, "missing field `") {
                Error::invalid(
                    "missing_field",
                    format!("required field '{name}' is missing"),
                )
                .with_detail("field", name)
            } else {
                Error::invalid("invalid_field", format!("invalid request: {text}"))
            }
        }
    }
}

fn backticked(text: &str, prefix: &str) -> Option<String> {
    let start = text.find(prefix)? + prefix.len();
    let rest = &text[start..];
    let end = rest.find('`')?;
    Some(rest[..end].to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct R {
        a: String,
        #[serde(default)]
        b: Option<u32>,
    }

    #[test]
    fn kinds() {
        assert_eq!(from_str::<R>("{").unwrap_err().kind(), "malformed_json");
        assert_eq!(
            from_str::<R>("nonsense").unwrap_err().kind(),
            "malformed_json"
        );
        assert_eq!(from_str::<R>("[1]").unwrap_err().kind(), "not_an_object");
        assert_eq!(
            from_str::<R>(r#"{"b": 1}"#).unwrap_err().kind(),
            "missing_field"
        );
        let e = from_str::<R>(r#"{"a": "x", "zz": 1}"#).unwrap_err();
        assert_eq!(e.kind(), "unknown_field");
        assert_eq!(e.fault().details["field"], "zz");
        assert_eq!(
            from_str::<R>(r#"{"a": 5}"#).unwrap_err().kind(),
            "invalid_field"
        );
        assert!(from_str::<R>(r#"{"a": "x"}"#).is_ok());
    }
}
