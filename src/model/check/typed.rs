//! Pass 3, typed parse: the schema version first (it decides how the rest is read), then
//! strict serde parsing with the failing JSON path named and offending values hidden.

use serde_json::Value;

use super::{key_path, secrets, truncate, Finding, InputError};
use crate::model::intent::SUPPORTED_SCHEMA_VERSIONS;

/// Typed parse with the failing JSON path named.
pub fn from_value<T: serde::de::DeserializeOwned>(v: Value, file: &str) -> Result<T, InputError> {
    serde_path_to_error::deserialize(v).map_err(|e| {
        let path = e.path().iter().fold("$".to_string(), |acc, seg| {
            use serde_path_to_error::Segment;
            match seg {
                Segment::Seq { index } => format!("{acc}[{index}]"),
                Segment::Map { key } | Segment::Enum { variant: key } => key_path(&acc, key),
                Segment::Unknown => format!("{acc}.?"),
            }
        });
        let inner = hide_values(&e.into_inner().to_string());
        let rule = if inner.starts_with("unknown field") {
            "unknown-field"
        } else if inner.starts_with("missing field") {
            "missing-field"
        } else if inner.starts_with("unknown variant") {
            "unknown-value"
        } else {
            "wrong-type"
        };
        InputError::Invalid {
            file: file.into(),
            findings: vec![Finding {
                path,
                rule: rule.into(),
                message: inner,
            }],
        }
    })
}

/// serde echoes offending string values (`invalid type: string "…"`); a value in the wrong
/// field may be a credential, so messages say only what kind of value it was.
fn hide_values(msg: &str) -> String {
    static RE: std::sync::OnceLock<regex_lite::Regex> = std::sync::OnceLock::new();
    let re = RE.get_or_init(|| {
        regex_lite::Regex::new(r#"(string|variant|field) ("(?:[^"\\]|\\.)*"|`[^`]*`)"#).unwrap()
    });
    re.replace_all(msg, |c: &regex_lite::Captures<'_>| {
        let quoted = &c[2];
        let inner = &quoted[1..quoted.len() - 1];
        if &c[1] != "string" && inner.len() <= 40 && secrets::classify(inner).is_none() {
            c[0].to_string()
        } else {
            format!("{} {}", &c[1], crate::redact::redacted(inner))
        }
    })
    .into_owned()
}

/// deploy.json's `schemaVersion`, checked before anything else is read: a finding when it is
/// missing from an object or not a supported version. A document that is no object at all
/// is left to [`not_an_object`].
pub fn intent_version_problem(value: &Value) -> Option<Finding> {
    match value.get("schemaVersion") {
        Some(Value::Number(n))
            if n.as_u64().is_some_and(|v| {
                SUPPORTED_SCHEMA_VERSIONS.contains(&(v as u32)) && v <= u32::MAX as u64
            }) =>
        {
            None
        }
        Some(other) => Some(Finding {
            path: "$.schemaVersion".into(),
            rule: "schema-version".into(),
            message: format!(
                "schemaVersion {} is not supported; this lane supports {:?}",
                describe_version(other),
                SUPPORTED_SCHEMA_VERSIONS
            ),
        }),
        None if value.is_object() => Some(Finding {
            path: "$.schemaVersion".into(),
            rule: "schema-version".into(),
            message: format!(
                "schemaVersion is missing; this lane supports {SUPPORTED_SCHEMA_VERSIONS:?}"
            ),
        }),
        None => None,
    }
}

/// A rejected schemaVersion for the message: numbers as written, anything else by type only
/// (a string there could be anything, a credential included).
fn describe_version(v: &Value) -> String {
    match v {
        Value::Number(n) => truncate(&n.to_string(), 40),
        Value::String(_) => "(a string)".into(),
        Value::Null => "null".into(),
        Value::Bool(_) => "(a boolean)".into(),
        Value::Array(_) => "(an array)".into(),
        Value::Object(_) => "(an object)".into(),
    }
}

/// serde would read a struct from an array; the files are JSON objects, nothing else.
pub fn not_an_object() -> Finding {
    Finding {
        path: "$".into(),
        rule: "wrong-type".into(),
        message: "the document must be a JSON object".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;

    #[test]
    fn wrong_type_messages_do_not_echo_values() {
        let mut d = shipped();
        d["services"][0]["replicas"] = json_str("hunter2-literal");
        let f = findings_of(&d);
        assert!(has(&f, "$.services[0].replicas", "wrong-type"), "{f:?}");
        assert!(!format!("{f:?}").contains("hunter2"), "{f:?}");
        let mut d = shipped();
        d["schemaVersion"] = json_str("hunter2-literal");
        let f = findings_of(&d);
        assert!(has(&f, "$.schemaVersion", "schema-version"));
        assert!(!format!("{f:?}").contains("hunter2"), "{f:?}");
    }

    #[test]
    fn unknown_fields_are_named_by_path() {
        let mut d = shipped();
        d["services"][0]["resources"]["limits"]["gpu"] = json_str("1");
        let f = findings_of(&d);
        assert!(
            has(&f, "$.services[0].resources.limits.gpu", "unknown-field"),
            "{f:?}"
        );
    }
}
