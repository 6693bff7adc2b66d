//! Loading and checking lane documents: `deploy/deploy.json` and the artifact catalog.
//!
//! One module per pass, run in this order and each reporting [`Finding`]s (a JSON path in
//! one notation, [`key_path`], a rule id and advice):
//! 1. [`load`]: size limits, JSON syntax, duplicate keys; the pipelines that run the passes;
//! 2. [`scan`]: the raw JSON scanned for content that must never be in intent
//!    (docs/architecture.md, "Truth sources"): image tags and digests, publish/reuse state,
//!    run ids, revisions, generated manifests, credentials;
//! 3. [`typed`]: the schema version, then strict typed parsing (unknown fields and wrong
//!    types are errors);
//! 4. rules serde cannot express, by subject: [`lane`] (the lane block and its names),
//!    [`service`] (each service), [`access`] (ServiceAccounts, RBAC, Secret and ConfigMap
//!    references), [`network`] (ports, health, NetworkPolicy), [`volumes`] (volumes and
//!    claims), [`limits`] (list lengths), [`disk`] (build paths in the checkout);
//! 5. [`catalog`]: every rule of the artifact catalog.

pub mod access;
pub mod catalog;
pub mod disk;
pub mod lane;
pub mod limits;
pub mod load;
pub mod network;
pub mod scan;
pub mod service;
pub mod typed;
pub mod volumes;

use serde::Serialize;

use super::secrets;

pub use catalog::{check_catalog, parse_catalog};
pub use disk::check_paths_on_disk;
pub use lane::check_intent;
pub use load::{load_intent, parse_intent, parse_json, read_limited, MAX_INPUT_BYTES};
pub use typed::from_value;

/// One problem: where (JSON path), which rule, and advice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Finding {
    pub path: String,
    /// The rule's id (`service-id`, `unknown-field`, …): rules are named by the program, a
    /// document read back (tests, tools) owns its copy.
    pub rule: std::borrow::Cow<'static, str>,
    pub message: String,
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: [{}] {}", self.path, self.rule, self.message)
    }
}

/// Why a deploy.json or catalog could not be used.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("cannot read {file}: {source}")]
    Io {
        file: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{file} is larger than the limit of {limit} bytes (rule: too-large; read {size} bytes)"
    )]
    TooLarge {
        file: String,
        size: usize,
        limit: usize,
    },
    #[error(
        "{file}: not valid JSON at line {line} column {column}: {message} (rule: json-syntax)"
    )]
    Syntax {
        file: String,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{file} is rejected: {}", summarize(.findings))]
    Invalid {
        file: String,
        findings: Vec<Finding>,
    },
}

fn summarize(findings: &[Finding]) -> String {
    let mut s = findings
        .iter()
        .take(5)
        .map(|f| f.to_string())
        .collect::<Vec<_>>()
        .join("; ");
    if findings.len() > 5 {
        s.push_str(&format!("; and {} more", findings.len() - 5));
    }
    s
}

impl InputError {
    /// Findings as a list (syntax and size problems become one finding each).
    pub fn findings(&self) -> Vec<Finding> {
        match self {
            InputError::Invalid { findings, .. } => findings.clone(),
            InputError::Syntax {
                line,
                column,
                message,
                ..
            } => vec![Finding {
                path: "$".into(),
                rule: "json-syntax".into(),
                message: format!("line {line} column {column}: {message}"),
            }],
            InputError::TooLarge { size, limit, .. } => vec![Finding {
                path: "$".into(),
                rule: "too-large".into(),
                message: format!(
                    "larger than the {limit}-byte limit (read {size} bytes before stopping); deploy.json and catalogs are small documents"
                ),
            }],
            InputError::Io { source, .. } => vec![Finding {
                path: "$".into(),
                rule: "io".into(),
                message: source.to_string(),
            }],
        }
    }

    pub fn file(&self) -> &str {
        match self {
            InputError::Io { file, .. }
            | InputError::TooLarge { file, .. }
            | InputError::Syntax { file, .. }
            | InputError::Invalid { file, .. } => file,
        }
    }
}

impl crate::error::Classified for InputError {
    fn class(&self) -> crate::error::ExitClass {
        match self {
            InputError::Io { .. } => crate::error::ExitClass::Environment,
            _ => crate::error::ExitClass::Rejected,
        }
    }
    fn hint(&self) -> Option<String> {
        Some(match self {
            InputError::Io { .. } => "check the path and permissions".into(),
            _ => "fix the fields named above; `lane validate FILE` lists every finding".into(),
        })
    }
    fn details(&self) -> Option<serde_json::Value> {
        Some(serde_json::json!({ "file": self.file(), "findings": self.findings() }))
    }
}

/// Where the rules of one pass put their findings, in the order they are found (that order
/// is the order `lane validate` prints).
#[derive(Debug, Default)]
pub struct Findings(Vec<Finding>);

impl Findings {
    pub fn add(&mut self, path: String, rule: &'static str, message: String) {
        self.0.push(Finding {
            path,
            rule: rule.into(),
            message,
        });
    }

    pub fn into_vec(self) -> Vec<Finding> {
        self.0
    }
}

/// JSONPath of `key` under `parent`: `.key` for identifier-like keys, `['key']` otherwise
/// (the same notation check-jsonschema uses, so both name one place the same way).
pub fn key_path(parent: &str, key: &str) -> String {
    let ident = key.bytes().next().is_some_and(|c| c.is_ascii_alphabetic())
        && key.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_');
    if ident {
        format!("{parent}.{key}")
    } else {
        format!(
            "{parent}['{}']",
            key.replace('\\', "\\\\").replace('\'', "\\'")
        )
    }
}

/// A user string fit for a message: truncated, or redacted when it looks like a credential.
fn shown(s: &str, n: usize) -> String {
    if secrets::classify(s).is_some() {
        crate::redact::redacted(s)
    } else {
        truncate(s, n)
    }
}

fn truncate(s: &str, n: usize) -> String {
    if s.len() <= n {
        s.to_string()
    } else {
        let mut end = n;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}…", &s[..end])
    }
}

#[cfg(test)]
pub(crate) mod test_support {
    //! Documents and lookups the pass tests share.
    use serde_json::Value;

    use super::{parse_catalog, parse_intent, Finding};

    pub const SHIPPED: &str = include_str!("../../../deploy/deploy.json");

    /// A rule id as the `&'static str` the rule tables compare with.
    pub fn rule_str(rule: std::borrow::Cow<'static, str>) -> &'static str {
        match rule {
            std::borrow::Cow::Borrowed(s) => s,
            std::borrow::Cow::Owned(s) => s.leak(),
        }
    }

    pub fn shipped() -> Value {
        serde_json::from_str(SHIPPED).unwrap()
    }

    pub fn findings_of(v: &Value) -> Vec<Finding> {
        match parse_intent(&serde_json::to_vec(v).unwrap(), "t.json", None) {
            Ok(_) => vec![],
            Err(e) => e.findings(),
        }
    }

    pub fn has(f: &[Finding], path: &str, rule: &str) -> bool {
        f.iter().any(|x| x.path == path && x.rule == rule)
    }

    pub fn json_str(s: &str) -> Value {
        Value::String(s.into())
    }

    pub fn good_catalog() -> Value {
        let c = "3f786850e387550fdab836ed7e6dc881de23001b";
        serde_json::json!({
            "schemaVersion": 1, "lane": "v0.1",
            "sourceRepo": "git@github.com:pikasTech/agentrun.git",
            "sourceBranch": "v0.1", "gitopsBranch": "v0.1-gitops",
            "sourceCommit": c, "updatedAt": "2026-11-01T00:00:00Z",
            "services": {"agentrun-mgr": {
                "component": {"service": "agentrun-mgr", "kind": "deployment"},
                "imageRepository": "127.0.0.1:5000/agentrun/agentrun-mgr",
                "tag": c, "digest": format!("sha256:{}", "a".repeat(64)),
                "status": "published", "sourceCommit": c,
                "fingerprint": format!("sha256:{}", "f".repeat(64)),
                "publishedAt": "2026-11-01T00:00:00Z", "updatedAt": "2026-11-01T00:00:00Z"}}
        })
    }

    pub fn catalog_findings(v: &Value) -> Vec<Finding> {
        match parse_catalog(&serde_json::to_vec(v).unwrap(), "c.json", None) {
            Ok(_) => vec![],
            Err(e) => e.findings(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::*;
    use super::*;

    #[test]
    fn shipped_lane_is_valid() {
        parse_intent(SHIPPED.as_bytes(), "deploy.json", None).unwrap();
    }

    #[test]
    fn key_paths_use_brackets_for_non_identifiers() {
        assert_eq!(key_path("$", "lane"), "$.lane");
        assert_eq!(
            key_path("$.services", "agentrun-mgr"),
            "$.services['agentrun-mgr']"
        );
        assert_eq!(key_path("$", "it's"), "$['it\\'s']");
        assert_eq!(key_path("$", "_x"), "$['_x']");
    }

    /// Rules of several passes, each at its path.
    #[test]
    fn gaps_closed() {
        let mut d = shipped();
        d["persistentVolumeClaims"][0]["storageClassName"] = json_str("Local Path");
        d["networkPolicy"]["egress"][0]["toNamespaces"] = serde_json::json!(["Kube_System"]);
        d["networkPolicy"]["ingress"][0]["ports"] = serde_json::json!(["grpc"]);
        d["lane"]["gitopsRepo"] = json_str("git@host:a b.git");
        let f = findings_of(&d);
        assert!(
            has(
                &f,
                "$.persistentVolumeClaims[0].storageClassName",
                "dns1123-subdomain"
            ),
            "{f:?}"
        );
        assert!(
            has(
                &f,
                "$.networkPolicy.egress[0].toNamespaces[0]",
                "dns1123-label"
            ),
            "{f:?}"
        );
        assert!(
            has(&f, "$.networkPolicy.ingress[0].ports[0]", "unknown-port"),
            "{f:?}"
        );
        assert!(has(&f, "$.lane.gitopsRepo", "repo-url"), "{f:?}");
    }
}
