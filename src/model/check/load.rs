//! Pass 1, load and limits: a bounded read of a regular file, JSON that refuses duplicate
//! keys, and the pipeline that runs every pass over deploy.json.

use std::path::Path;

use serde_json::Value;

use super::{key_path, lane, scan, secrets, truncate, typed, Finding, InputError};
use crate::model::intent::{DeployIntent, IntentText};

/// Largest deploy.json or catalog accepted; intent for hundreds of services fits easily.
pub const MAX_INPUT_BYTES: usize = 1024 * 1024;

/// Read a regular file with the size limit enforced while reading. A FIFO would block
/// forever and `/dev/zero` never ends, so anything but a regular file is refused before it is
/// opened, and the read stops one byte past the limit whatever the size claimed.
pub fn read_limited(path: &Path) -> Result<Vec<u8>, InputError> {
    use std::io::Read;
    let file = path.display().to_string();
    let io = |source| InputError::Io {
        file: file.clone(),
        source,
    };
    let not_a_file = || InputError::Invalid {
        file: file.clone(),
        findings: vec![Finding {
            path: "$".into(),
            rule: "not-a-file".into(),
            message: "only a regular file is read (not a directory, FIFO, socket or device); \
                      copy the document into a file first"
                .into(),
        }],
    };
    if !std::fs::metadata(path).map_err(io)?.is_file() {
        return Err(not_a_file());
    }
    let f = std::fs::File::open(path).map_err(io)?;
    // Checked again on the opened file: the path may have changed since the first look.
    if !f.metadata().map_err(io)?.is_file() {
        return Err(not_a_file());
    }
    let mut bytes = Vec::new();
    f.take(MAX_INPUT_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    if bytes.len() > MAX_INPUT_BYTES {
        return Err(InputError::TooLarge {
            file,
            size: bytes.len(),
            limit: MAX_INPUT_BYTES,
        });
    }
    Ok(bytes)
}

/// Parse bytes as JSON with size and syntax errors named; a key that appears twice in one
/// object is refused with its path (see src/model/json.rs).
pub fn parse_json(bytes: &[u8], file: &str) -> Result<Value, InputError> {
    if bytes.len() > MAX_INPUT_BYTES {
        return Err(InputError::TooLarge {
            file: file.into(),
            size: bytes.len(),
            limit: MAX_INPUT_BYTES,
        });
    }
    crate::model::json::from_slice(bytes).map_err(|e| match e {
        crate::model::json::Error::Syntax(e) => InputError::Syntax {
            file: file.into(),
            line: e.line(),
            column: e.column(),
            message: e.to_string(),
        },
        crate::model::json::Error::Duplicate { parent, key } => {
            let (path, shown_key) = if secrets::classify(&key).is_some() {
                (parent, crate::redact::redacted(&key))
            } else {
                (key_path(&parent, &key), truncate(&key, 80))
            };
            InputError::Invalid {
                file: file.into(),
                findings: vec![Finding {
                    path,
                    rule: "duplicate-key".into(),
                    message: format!(
                        "key '{shown_key}' appears twice in one object; JSON readers disagree on which copy counts, so keep exactly one"
                    ),
                }],
            }
        }
    })
}

/// A value passed the deploy.json rules but not the type that holds it (a rule and its type
/// disagree): the file is refused rather than half-typed.
pub fn type_mismatch(file: &str) -> InputError {
    InputError::Invalid {
        file: file.into(),
        findings: vec![Finding {
            path: "$".into(),
            rule: "typed".into(),
            message: "a value passed the deploy.json rules but not its type: this is a lane bug, please report it".into(),
        }],
    }
}

/// Load deploy.json from disk: size limit, forbidden-content scan, strict parse, rules, and
/// (with the repo root) build paths checked against the checkout, symlinks included.
pub fn load_intent(path: &Path, repo_root: Option<&Path>) -> Result<DeployIntent, InputError> {
    let bytes = read_limited(path)?;
    parse_intent(&bytes, &path.display().to_string(), repo_root)
}

/// Parse and check deploy.json bytes. `repo_root` enables filesystem path checks.
pub fn parse_intent(
    bytes: &[u8],
    file: &str,
    repo_root: Option<&Path>,
) -> Result<DeployIntent, InputError> {
    let value = parse_json(bytes, file)?;
    let invalid = |findings: Vec<Finding>| InputError::Invalid {
        file: file.into(),
        findings,
    };
    // The version decides how the rest is read: check it first.
    if let Some(problem) = typed::intent_version_problem(&value) {
        return Err(invalid(vec![problem]));
    }
    if !value.is_object() {
        return Err(invalid(vec![typed::not_an_object()]));
    }
    let findings = scan::scan_intent(&value);
    if !findings.is_empty() {
        return Err(invalid(findings));
    }
    let intent: IntentText = typed::from_value(value, file)?;
    let mut findings = lane::check_intent(&intent);
    if let Some(root) = repo_root {
        findings.extend(super::disk::check_paths_on_disk(&intent, root));
    }
    if !findings.is_empty() {
        return Err(invalid(findings));
    }
    // Every id and path passed the rule its type holds, so this cannot fail; if a rule and
    // its type ever disagree, the file is refused rather than half-typed.
    intent.into_checked().map_err(|_| type_mismatch(file))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::Value;

    use super::super::parse_catalog;
    use super::super::test_support::*;
    use super::*;

    /// JSON values that exercise the checks: secrets, digests, odd numbers, deep nesting.
    fn arb_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| serde_json::json!(n)),
            any::<u64>().prop_map(|n| serde_json::json!(n)),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(|n| serde_json::json!(n)),
            ".{0,40}".prop_map(Value::String),
            prop_oneof![
                Just("sha256:"),
                Just("ghp_"),
                Just("-----BEGIN "),
                Just("postgres://u:p@h/db"),
                Just("redis://:p/w@h"),
                Just("host=db password=x"),
                Just("LS0tLS1CRUdJTiBQUklWQVRFIEtFWS0tLS0t"),
                Just("{\"kind\": \"Config\", \"clusters\": []}"),
                Just("--password"),
                Just("a\u{2028}b\u{85}\u{fffe}"),
                Just("../"),
                Just("/abs"),
                Just("v0.1"),
                Just("é"),
                Just("3f786850e387550fdab836ed7e6dc881de23001b"),
                Just("deployment"),
                Just("job"),
            ]
            .prop_map(|s| Value::String(s.into())),
        ];
        leaf.prop_recursive(4, 32, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                proptest::collection::btree_map("[a-zA-Z_-]{0,12}", inner, 0..6)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    /// Every node of a document by JSON pointer.
    fn pointers(v: &Value, at: String, out: &mut Vec<String>) {
        out.push(at.clone());
        match v {
            Value::Object(m) => m.iter().for_each(|(k, c)| {
                pointers(
                    c,
                    format!("{at}/{}", k.replace('~', "~0").replace('/', "~1")),
                    out,
                )
            }),
            Value::Array(a) => a
                .iter()
                .enumerate()
                .for_each(|(i, c)| pointers(c, format!("{at}/{i}"), out)),
            _ => {}
        }
    }

    fn exercise(bytes: &[u8]) {
        if let Err(e) = parse_intent(bytes, "fuzz.json", None) {
            let f = e.findings();
            assert!(!f.is_empty());
            assert!(f.iter().all(|x| x.path.starts_with('$')), "{f:?}");
            let _ = e.to_string();
        }
        if let Err(e) = parse_catalog(bytes, "fuzz.json", None) {
            assert!(!e.findings().is_empty());
            let _ = e.to_string();
        }
    }

    /// Credential shapes of issue 14 (and older ones), each holding the marker `hunter2`
    /// where it can, or recognisable as a whole.
    const SECRET_SHAPES: &[&str] = &[
        "redis://:hunter2pw@cache:6379/0",
        "https://bot:hunter2/pw@git.example.com/o/r.git",
        "host=db port=5432 password=hunter2pw dbname=app",
        "Server=db;Uid=app;Pwd=hunter2pw;",
        "LS0tLS1CRUdJTiBPUEVOU1NIIFBSSVZBVEUgS0VZLS0tLS0KaHVudGVyMgo=",
        "{\"kind\": \"Config\", \"clusters\": [], \"users\": [{\"password\": \"hunter2pw\"}]}",
        "postgres://app:hunter2pw@db:5432/x",
        "-----BEGIN RSA PRIVATE KEY-----\nhunter2pw",
    ];

    /// Every string value of a document, by JSON pointer.
    fn string_pointers(v: &Value, at: String, out: &mut Vec<String>) {
        match v {
            Value::String(_) => out.push(at),
            Value::Object(m) => m.iter().for_each(|(k, c)| {
                string_pointers(
                    c,
                    format!("{at}/{}", k.replace('~', "~0").replace('/', "~1")),
                    out,
                )
            }),
            Value::Array(a) => a
                .iter()
                .enumerate()
                .for_each(|(i, c)| string_pointers(c, format!("{at}/{i}"), out)),
            _ => {}
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        /// A credential of any shape, put in any string of deploy.json with any text around
        /// it, is refused, and the refusal never echoes it.
        #[test]
        fn secret_shapes_are_refused_wherever_they_sit(
            pick in any::<prop::sample::Index>(),
            shape in prop::sample::select(SECRET_SHAPES),
            before in "[a-z ]{0,4}",
            after in "( [a-z]{0,4})?",
        ) {
            let mut doc = shipped();
            let mut ptrs = Vec::new();
            string_pointers(&doc, String::new(), &mut ptrs);
            let p = pick.get(&ptrs).clone();
            let value = format!("{before}{shape}{after}");
            *doc.pointer_mut(&p).unwrap() = Value::String(value.clone());
            let e = parse_intent(&serde_json::to_vec(&doc).unwrap(), "t.json", None)
                .expect_err(&value);
            let f = e.findings();
            prop_assert!(
                f.iter().any(|x| x.rule == "secret-value" || x.rule == "secret-literal"),
                "{value:?} at {p}: {f:?}"
            );
            let text = format!("{e} {f:?}");
            prop_assert!(!text.contains("hunter2"), "{text}");
        }

        #[test]
        fn no_panic_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
            exercise(&bytes);
        }

        #[test]
        fn no_panic_on_arbitrary_json(v in arb_json()) {
            exercise(&serde_json::to_vec(&v).unwrap());
        }

        /// Replace one node of the shipped deploy.json (or the good catalog) by an arbitrary
        /// value: the result is reported, never a panic.
        #[test]
        fn no_panic_on_mutated_documents(pick in any::<prop::sample::Index>(), v in arb_json(), catalog in any::<bool>()) {
            let mut doc = if catalog { good_catalog() } else { shipped() };
            let mut ptrs = Vec::new();
            pointers(&doc, String::new(), &mut ptrs);
            let p = pick.get(&ptrs).clone();
            match doc.pointer_mut(&p) {
                Some(slot) => *slot = v,
                None => unreachable!(),
            }
            exercise(&serde_json::to_vec(&doc).unwrap());
        }

        /// Byte-level damage to the shipped file: cut, flip, insert.
        #[test]
        fn no_panic_on_damaged_bytes(at in any::<prop::sample::Index>(), byte in any::<u8>(), op in 0u8..3) {
            let mut b = SHIPPED.as_bytes().to_vec();
            let i = at.index(b.len());
            match op {
                0 => b.truncate(i),
                1 => b[i] = byte,
                _ => b.insert(i, byte),
            }
            exercise(&b);
        }
    }
}
