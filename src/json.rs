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
    let mut de = serde_json::Deserializer::from_str(json);
    let value = serde_path_to_error::deserialize::<_, T>(&mut de).map_err(|e| {
        let path = e.path().to_string();
        classify(e.inner(), &path)
    })?;
    de.end().map_err(|e| classify(&e, "."))?;
    Ok(value)
}

fn malformed(json: &str) -> Error {
    let e = serde_json::from_str::<serde::de::IgnoredAny>(json)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    Error::invalid("malformed_json", format!("malformed JSON: {e}"))
}

/// `path` is where in the request the error is (`store`, `runtime.worker_threads`; `.` for
/// the top level).
fn classify(e: &serde_json::Error, path: &str) -> Error {
    use serde_json::error::Category;
    let text = e.to_string();
    match e.classify() {
        Category::Syntax | Category::Eof | Category::Io => {
            Error::invalid("malformed_json", format!("malformed JSON: {text}"))
        }
        Category::Data => {
            if let Some(name) = backticked(&text, "unknown field `") {
                let field = match path.rsplit_once('.') {
                    Some((parent, _)) if !parent.is_empty() => format!("{parent}.{name}"),
                    _ => name,
                };
                Error::invalid("unknown_field", format!("unknown field '{field}' in request"))
                    .with_detail("field", field)
                    .with_hint(
                        "remove the field; the library rejects names it does not know so typos never pass silently",
                    )
            } else if let Some(name) = backticked(&text, "missing field `") {
                let field = if path == "." || path.is_empty() {
                    name
                } else {
                    format!("{path}.{name}")
                };
                Error::invalid(
                    "missing_field",
                    format!("required field '{field}' is missing"),
                )
                .with_detail("field", field)
            } else if path == "." || path.is_empty() {
                Error::invalid("invalid_field", format!("invalid request: {text}"))
            } else {
                let why = text.split(" at line ").next().unwrap_or(&text);
                Error::invalid(
                    "invalid_field",
                    format!("invalid value for '{path}': {why}"),
                )
                .with_detail("field", path)
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
    fn wrong_type_names_the_field() {
        let e = from_str::<R>(r#"{"a": 5}"#).unwrap_err();
        assert_eq!(e.kind(), "invalid_field");
        assert_eq!(e.fault().details["field"], "a");
        assert!(e.message().contains("'a'"), "{}", e.message());
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
