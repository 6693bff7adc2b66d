//! Loading and checking `deploy/deploy.json`.
//!
//! Three passes, each reporting JSON paths and rule ids:
//! 1. a scan of the raw JSON for content that must never be in intent (docs/architecture.md, "Truth
//!    sources"): image tags and digests, publish/reuse state, run ids, revisions, generated
//!    manifests, credentials;
//! 2. strict typed parsing (unknown fields and wrong types are errors);
//! 3. rules serde cannot express: name formats, ranges, references, repo-relative paths.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;

use super::intent::{DeployIntent, ImageSource, Service, SUPPORTED_SCHEMA_VERSIONS};
use super::names::LaneNames;
use super::rules;
use super::secrets;

/// Largest deploy.json or catalog accepted; intent for hundreds of services fits easily.
pub const MAX_INPUT_BYTES: usize = 1024 * 1024;

/// One problem: where (JSON path), which rule, and advice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub path: String,
    pub rule: &'static str,
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
                rule: "json-syntax",
                message: format!("line {line} column {column}: {message}"),
            }],
            InputError::TooLarge { size, limit, .. } => vec![Finding {
                path: "$".into(),
                rule: "too-large",
                message: format!(
                    "larger than the {limit}-byte limit (read {size} bytes before stopping); deploy.json and catalogs are small documents"
                ),
            }],
            InputError::Io { source, .. } => vec![Finding {
                path: "$".into(),
                rule: "io",
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
            rule: "not-a-file",
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
    super::json::from_slice(bytes).map_err(|e| match e {
        super::json::Error::Syntax(e) => InputError::Syntax {
            file: file.into(),
            line: e.line(),
            column: e.column(),
            message: e.to_string(),
        },
        super::json::Error::Duplicate { parent, key } => {
            let (path, shown_key) = if secrets::classify(&key).is_some() {
                (parent, secrets::redacted(&key))
            } else {
                (key_path(&parent, &key), truncate(&key, 80))
            };
            InputError::Invalid {
                file: file.into(),
                findings: vec![Finding {
                    path,
                    rule: "duplicate-key",
                    message: format!(
                        "key '{shown_key}' appears twice in one object; JSON readers disagree on which copy counts, so keep exactly one"
                    ),
                }],
            }
        }
    })
}

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
                rule,
                message: inner,
            }],
        }
    })
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
            format!("{} {}", &c[1], secrets::redacted(inner))
        }
    })
    .into_owned()
}

/// A user string fit for a message: truncated, or redacted when it looks like a credential.
fn shown(s: &str, n: usize) -> String {
    if secrets::classify(s).is_some() {
        secrets::redacted(s)
    } else {
        truncate(s, n)
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
    match value.get("schemaVersion") {
        Some(Value::Number(n))
            if n.as_u64().is_some_and(|v| {
                SUPPORTED_SCHEMA_VERSIONS.contains(&(v as u32)) && v <= u32::MAX as u64
            }) => {}
        Some(other) => {
            return Err(invalid(vec![Finding {
                path: "$.schemaVersion".into(),
                rule: "schema-version",
                message: format!(
                    "schemaVersion {} is not supported; this lane supports {:?}",
                    describe_version(other),
                    SUPPORTED_SCHEMA_VERSIONS
                ),
            }]))
        }
        None if value.is_object() => {
            return Err(invalid(vec![Finding {
                path: "$.schemaVersion".into(),
                rule: "schema-version",
                message: format!(
                    "schemaVersion is missing; this lane supports {SUPPORTED_SCHEMA_VERSIONS:?}"
                ),
            }]))
        }
        None => {}
    }
    if !value.is_object() {
        return Err(invalid(vec![not_an_object()]));
    }
    let mut findings = Vec::new();
    scan(&value, "$", Ctx::Intent, &mut findings);
    if !findings.is_empty() {
        return Err(invalid(findings));
    }
    let intent: DeployIntent = from_value(value, file)?;
    let mut findings = check_intent(&intent);
    if let Some(root) = repo_root {
        check_paths_on_disk(&intent, root, &mut findings);
    }
    if findings.is_empty() {
        Ok(intent)
    } else {
        Err(invalid(findings))
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
fn not_an_object() -> Finding {
    Finding {
        path: "$".into(),
        rule: "wrong-type",
        message: "the document must be a JSON object".into(),
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

#[derive(Clone, Copy, PartialEq)]
enum Ctx {
    /// Regular intent structure: forbidden keys apply.
    Intent,
    /// A free-form map (config, build args): keys are the user's; only secret rules apply.
    FreeMap,
}

/// Keys that never belong in intent, by normalised name (lowercase, no `-`/`_`).
fn forbidden_key(norm: &str) -> Option<(&'static str, &'static str)> {
    const TABLE: &[(&[&str], &str, &str)] = &[
        (
            &["image", "imagetag", "tag", "digest", "imagedigest", "imageref", "imageid", "imageurl"],
            "forbidden-image-identity",
            "image tags and digests are machine-written to the artifact catalog on the GitOps branch, never to deploy.json",
        ),
        (
            &["status", "publishstatus", "published", "publishedat", "reused", "reusedfrom", "reuseevidence", "catalog"],
            "forbidden-publish-state",
            "publish and reuse state belong to the artifact catalog on the GitOps branch",
        ),
        (
            &["pipelinerun", "pipelinerunid", "pipelinerunname", "taskrun", "taskrunid", "taskrunname", "buildid", "runid"],
            "forbidden-run-id",
            "PipelineRun/TaskRun ids are Tekton evidence, never intent",
        ),
        (
            &["revision", "gitopsrevision", "gitopscommit", "argorevision", "syncrevision", "sourcecommit", "commit", "commitid", "sha"],
            "forbidden-revision",
            "GitOps/Argo revisions and commits are machine state; the source commit comes from the run",
        ),
        (
            &["manifest", "manifests", "generatedmanifest", "rendered", "apiversion", "metadata", "spec"],
            "forbidden-generated-manifest",
            "generated manifests are rendered onto the GitOps branch from this intent, never stored in it",
        ),
        (
            &["password", "passwd", "token", "apikey", "apitoken", "accesstoken", "privatekey", "sshkey", "sshprivatekey", "kubeconfig", "credentials", "credential", "secretvalue", "clientsecret", "stringdata", "data"],
            "forbidden-credential",
            "credential values never appear in deploy.json; reference a Secret by name and key (secretKeyRef / secret volume)",
        ),
    ];
    TABLE
        .iter()
        .find(|(keys, _, _)| keys.contains(&norm))
        .map(|(_, rule, msg)| (*rule, *msg))
}

fn normalize_key(k: &str) -> String {
    k.chars()
        .filter(|c| *c != '-' && *c != '_')
        .collect::<String>()
        .to_ascii_lowercase()
}

/// Paths where a key that is otherwise forbidden is the model's own field.
fn allowed_here(path: &str, key: &str) -> bool {
    // `services[i].upstream.tag`: the upstream tag to resolve (the digest goes to the catalog).
    key == "tag" && path.starts_with("$.services[") && path.ends_with(".upstream")
}

fn scan(v: &Value, path: &str, ctx: Ctx, out: &mut Vec<Finding>) {
    match v {
        Value::Object(map) => {
            // An env entry (or any name/value pair) whose name says "secret" but holds a literal.
            if let (Some(Value::String(name)), Some(Value::String(val))) =
                (map.get("name"), map.get("value"))
            {
                if secrets::is_secret_key_name(name) && !val.is_empty() {
                    out.push(Finding {
                        path: format!("{path}.value"),
                        rule: "secret-literal",
                        message: format!(
                            "'{}' holds a literal value ({}); pass it with secretKeyRef to a lane Secret instead",
                            shown(name, 80),
                            secrets::redacted(val)
                        ),
                    });
                }
            }
            for (k, child) in map {
                // A key can carry a credential too; report it at the object, never echo it.
                if let Some(kind) = secrets::classify(k) {
                    out.push(secret_key_finding(path, kind, k));
                    continue;
                }
                let child_path = key_path(path, k);
                if ctx == Ctx::Intent && !allowed_here(path, k) {
                    if let Some((rule, msg)) = forbidden_key(&normalize_key(k)) {
                        out.push(Finding {
                            path: child_path.clone(),
                            rule,
                            message: msg.to_string(),
                        });
                        continue;
                    }
                }
                if ctx == Ctx::FreeMap && secrets::is_secret_key_name(k) {
                    if let Value::String(s) = child {
                        if !s.is_empty() {
                            out.push(Finding {
                                path: child_path.clone(),
                                rule: "secret-literal",
                                message: format!(
                                    "'{}' holds a literal value ({}); config and build args are not for secrets",
                                    truncate(k, 80),
                                    secrets::redacted(s)
                                ),
                            });
                            continue;
                        }
                    }
                }
                let child_ctx = if ctx == Ctx::Intent
                    && path.starts_with("$.services[")
                    && (k == "config" || (k == "args" && path.ends_with(".build")))
                {
                    Ctx::FreeMap
                } else {
                    ctx
                };
                scan(child, &child_path, child_ctx, out);
            }
        }
        Value::Array(items) => {
            let argv = is_service_argv(path);
            for (i, item) in items.iter().enumerate() {
                let item_path = format!("{path}[{i}]");
                // `--password hunter2`: the flag and its value as two arguments.
                let after_flag = i
                    .checked_sub(1)
                    .and_then(|j| items[j].as_str())
                    .is_some_and(secrets::is_credential_flag);
                if let (true, true, Value::String(s)) = (argv, after_flag, item) {
                    if !s.is_empty() && !s.starts_with("$(") {
                        out.push(Finding {
                            path: item_path,
                            rule: "secret-literal",
                            message: format!(
                                "follows {} and so is a credential given literally ({}); pass $(VAR) of an env var filled by secretKeyRef",
                                items[i - 1].as_str().unwrap_or_default(),
                                secrets::redacted(s)
                            ),
                        });
                        continue;
                    }
                }
                if let (true, Value::String(s)) = (argv, item) {
                    if secrets::is_credential_assignment(s) {
                        out.push(Finding {
                            path: item_path,
                            rule: "secret-literal",
                            message: format!(
                                "argument sets a credential literally ({}); read it from an env var filled by secretKeyRef, e.g. --token=$(API_TOKEN)",
                                secrets::redacted(s)
                            ),
                        });
                        continue;
                    }
                }
                scan(item, &item_path, ctx, out);
            }
        }
        Value::String(s) => scan_string(s, path, out),
        _ => {}
    }
}

/// `$.services[N].command` or `$.services[N].args` (the container argv, not build args).
fn is_service_argv(path: &str) -> bool {
    let Some(rest) = path.strip_prefix("$.services[") else {
        return false;
    };
    let Some((n, field)) = rest.split_once(']') else {
        return false;
    };
    n.bytes().all(|c| c.is_ascii_digit()) && (field == ".command" || field == ".args")
}

fn secret_key_finding(path: &str, kind: secrets::SecretKind, key: &str) -> Finding {
    Finding {
        path: path.into(),
        rule: "secret-value",
        message: format!(
            "a key of this object looks like {} ({}); credentials live only in Secrets",
            kind.describe(),
            secrets::redacted(key)
        ),
    }
}

fn scan_string(s: &str, path: &str, out: &mut Vec<Finding>) {
    if let Some(problem) = text_problem(s) {
        out.push(Finding {
            path: path.into(),
            rule: problem.0,
            message: problem.1,
        });
        return;
    }
    if let Some(kind) = secrets::classify(s) {
        out.push(Finding {
            path: path.into(),
            rule: "secret-value",
            message: format!(
                "value looks like {} ({}); credentials live only in Secrets, referenced by name and key",
                kind.describe(),
                secrets::redacted(s)
            ),
        });
        return;
    }
    if has_digest(s) {
        out.push(Finding {
            path: path.into(),
            rule: "forbidden-image-identity",
            message:
                "an image digest is machine-written to the artifact catalog, never to deploy.json"
                    .into(),
        });
        return;
    }
    if is_hex40_word(s) {
        out.push(Finding {
            path: path.into(),
            rule: "forbidden-revision",
            message: "a 40-hex commit id is machine state (the run supplies the source commit)"
                .into(),
        });
    }
}

/// What every string of deploy.json and of a catalog must satisfy, whatever its field: at
/// most [`rules::MAX_TEXT_CHARS`] characters (the schema's `text`), and no control character
/// render would have to refuse ([`rules::forbidden_char`]).
fn text_problem(s: &str) -> Option<(&'static str, String)> {
    if s.len() > rules::MAX_TEXT_CHARS && s.chars().count() > rules::MAX_TEXT_CHARS {
        return Some((
            "too-long",
            format!(
                "a value is at most {} characters; larger content belongs in a file of the image or a volume",
                rules::MAX_TEXT_CHARS
            ),
        ));
    }
    rules::forbidden_char(s).map(|c| {
        (
            "control-character",
            format!(
                "holds the character U+{:04X}; values may hold tab, newline and carriage return, but no NUL, DEL, other C0/C1 control or U+FFFE/U+FFFF (kustomize turns NEL, U+0085, into a space and refuses U+FFFE/U+FFFF; write a newline)",
                c as u32
            ),
        )
    })
}

/// `sha256:` followed by 64 hex digits anywhere in `s` (every occurrence is looked at).
fn has_digest(s: &str) -> bool {
    s.match_indices("sha256:").any(|(i, _)| {
        let tail = &s.as_bytes()[i + 7..];
        tail.len() >= 64 && tail[..64].iter().all(|c| c.is_ascii_hexdigit())
    })
}

fn is_hex40_word(s: &str) -> bool {
    s.split(|c: char| !c.is_ascii_alphanumeric())
        .any(|w| w.len() == 40 && w.bytes().all(|c| c.is_ascii_hexdigit()))
}

/// Names that are never a lane target (the old dev/prod model: docs/architecture.md, "Lane names").
const LEGACY_TARGETS: &[&str] = &[
    "agentrun_dev",
    "agentrun_prod",
    "agentrun-dev",
    "agentrun-prod",
    "master",
    "main",
];

/// The old model's namespaces and environments: never a lane's name of any kind, nor a
/// namespace a value points at (`db.agentrun-dev.svc`).
const LEGACY_NAMES: &[&str] = &[
    "agentrun_dev",
    "agentrun_prod",
    "agentrun-dev",
    "agentrun-prod",
];

/// The legacy name `s` is or names as one of its dot, slash, colon, `@`, `=`, `,` or
/// whitespace-separated parts (a DNS name, URL, path or list), if any.
fn legacy_name_in(s: &str) -> Option<&'static str> {
    s.split(|c: char| c.is_whitespace() || "./:@=,;".contains(c))
        .find_map(|part| LEGACY_NAMES.iter().find(|l| l.eq_ignore_ascii_case(part)))
        .copied()
}

/// Rules on the typed model.
pub fn check_intent(d: &DeployIntent) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut f = |path: String, rule: &'static str, message: String| {
        out.push(Finding {
            path,
            rule,
            message,
        })
    };
    let l = &d.lane;
    if !rules::is_lane_version(&l.version) {
        f(
            "$.lane.version".into(),
            "lane-version",
            "must look like v<major>.<minor>, e.g. v0.1".into(),
        );
    }
    for (p, v) in [
        ("$.lane.project", &l.project),
        ("$.lane.cluster", &l.cluster),
    ] {
        if !rules::is_dns1123_label(v) || v.len() > 30 {
            f(
                p.into(),
                "dns1123-label",
                "must be a DNS-1123 label of at most 30 characters (it prefixes derived names)"
                    .into(),
            );
        }
    }
    for (p, v) in [
        ("$.lane.sourceRepo", Some(&l.source_repo)),
        ("$.lane.gitopsRepo", l.gitops_repo.as_ref()),
    ] {
        let Some(v) = v else { continue };
        // The same parser promote and plan use before git runs (src/git/remote.rs).
        if let Err(e) = crate::git::remote::Remote::parse(v) {
            f(p.into(), "repo-url", e.to_string());
        }
    }
    if !rules::is_registry_host(&l.registry.host) {
        f(
            "$.lane.registry.host".into(),
            "registry-host",
            "must be host[:port], e.g. 127.0.0.1:5000".into(),
        );
    }
    if !rules::is_repository_path(&l.registry.repository_prefix) {
        f(
            "$.lane.registry.repositoryPrefix".into(),
            "repository-path",
            "must be lowercase path components like agentrun".into(),
        );
    }
    for (i, np) in l.proxy.no_proxy.iter().enumerate() {
        if np.is_empty() || np.contains([' ', ',']) {
            f(
                format!("$.lane.proxy.noProxy[{i}]"),
                "no-proxy",
                "one host, domain or CIDR per entry, without spaces or commas".into(),
            );
        }
    }
    for (p, v) in [
        ("$.lane.proxy.httpProxy", &l.proxy.http_proxy),
        ("$.lane.proxy.httpsProxy", &l.proxy.https_proxy),
    ] {
        if let Some(v) = v {
            if !(v.starts_with("http://")
                || v.starts_with("https://")
                || v.starts_with("socks5://"))
            {
                f(
                    p.into(),
                    "proxy-url",
                    "must be an http://, https:// or socks5:// URL".into(),
                );
            }
        }
    }
    let names = LaneNames::resolve(l);
    for (p, v) in [
        ("$.lane.names.namespace", &names.namespace),
        ("$.lane.names.tektonNamespace", &names.tekton_namespace),
        ("$.lane.names.argoNamespace", &names.argo_namespace),
        ("$.lane.names.pipeline", &names.pipeline),
        (
            "$.lane.names.tektonServiceAccount",
            &names.tekton_service_account,
        ),
        ("$.lane.names.argoProject", &names.argo_project),
        ("$.lane.names.argoApplication", &names.argo_application),
    ] {
        if !rules::is_dns1123_label(v) {
            f(
                p.into(),
                "dns1123-label",
                format!(
                    "resolved name '{}' is not a DNS-1123 label",
                    truncate(v, 80)
                ),
            );
        }
    }
    if !names.pipeline_run_prefix.ends_with('-')
        || !rules::is_dns1123_label(names.pipeline_run_prefix.trim_end_matches('-'))
        || names.pipeline_run_prefix.len() > 50
    {
        f("$.lane.names.pipelineRunPrefix".into(), "run-prefix", "must be a DNS-1123 prefix ending in '-' (at most 50 characters, leaving room for 12 commit characters)".into());
    }
    for (p, v) in [
        ("$.lane.names.sourceBranch", &names.source_branch),
        ("$.lane.names.gitopsBranch", &names.gitops_branch),
    ] {
        if !rules::is_branch_name(v) {
            f(
                p.into(),
                "branch-name",
                format!("'{}' is not a valid git branch name", truncate(v, 80)),
            );
        }
    }
    for (p, v) in [
        ("$.lane.names.namespace", &names.namespace),
        ("$.lane.names.sourceBranch", &names.source_branch),
        ("$.lane.names.gitopsBranch", &names.gitops_branch),
    ] {
        if LEGACY_TARGETS.contains(&v.as_str()) {
            f(
                p.into(),
                "legacy-target",
                format!("'{v}' belongs to the old dev/prod model and is never a lane target"),
            );
        }
    }
    for (p, v) in [
        ("$.lane.names.tektonNamespace", &names.tekton_namespace),
        ("$.lane.names.argoNamespace", &names.argo_namespace),
        ("$.lane.names.pipeline", &names.pipeline),
        (
            "$.lane.names.tektonServiceAccount",
            &names.tekton_service_account,
        ),
        ("$.lane.names.argoProject", &names.argo_project),
        ("$.lane.names.argoApplication", &names.argo_application),
    ] {
        if let Some(l) = legacy_name_in(v) {
            f(
                p.into(),
                "legacy-target",
                format!("'{l}' belongs to the old dev/prod model and is never part of a lane"),
            );
        }
    }
    // Every other object name of the file (deploy/deploy.schema.json: every DNS-1123 name).
    let mut object_names: Vec<(String, &str)> = vec![
        ("$.lane.project".into(), l.project.as_str()),
        ("$.lane.cluster".into(), l.cluster.as_str()),
    ];
    for (i, s) in d.services.iter().enumerate() {
        let p = format!("$.services[{i}]");
        object_names.push((format!("{p}.id"), &s.id));
        for (j, e) in s.env.iter().enumerate() {
            for (which, r) in [
                ("secretKeyRef", &e.secret_key_ref),
                ("configMapKeyRef", &e.config_map_key_ref),
            ] {
                if let Some(r) = r {
                    object_names.push((format!("{p}.env[{j}].{which}.name"), &r.name));
                }
            }
        }
        for (j, v) in s.volumes.iter().enumerate() {
            object_names.push((format!("{p}.volumes[{j}].name"), &v.name));
            if let Some(sec) = &v.secret {
                object_names.push((
                    format!("{p}.volumes[{j}].secret.secretName"),
                    &sec.secret_name,
                ));
            }
        }
    }
    for (i, sa) in d.service_accounts.iter().enumerate() {
        object_names.push((format!("$.serviceAccounts[{i}].name"), &sa.name));
    }
    for (i, c) in d.persistent_volume_claims.iter().enumerate() {
        object_names.push((format!("$.persistentVolumeClaims[{i}].name"), &c.name));
        if let Some(sc) = &c.storage_class_name {
            object_names.push((
                format!("$.persistentVolumeClaims[{i}].storageClassName"),
                sc,
            ));
        }
    }
    for (p, v) in object_names {
        if let Some(l) = legacy_name_in(v) {
            f(
                p,
                "legacy-target",
                format!(
                    "'{l}' belongs to the old dev/prod model and is never part of a lane's names"
                ),
            );
        }
    }
    if names.gitops_branch == names.source_branch {
        f("$.lane.names.gitopsBranch".into(), "gitops-is-source", "the GitOps branch must differ from the source branch: nothing machine-written ever lands on the source branch".into());
    }
    let mut paths_ok = true;
    for (p, v) in [
        ("$.lane.names.catalogPath", &names.catalog_path),
        ("$.lane.names.runtimePath", &names.runtime_path),
    ] {
        // promote writes these paths into a git tree and Argo CD reads them back: one
        // spelling per path, so `./x`, `x//y` and `x/` never name the same place twice.
        if let Some(problem) = rules::repo_path_problem(v).or_else(|| rules::gitops_path_problem(v))
        {
            f(p.into(), "repo-path", problem.into());
            paths_ok = false;
        }
    }
    if paths_ok {
        let (cat, run) = (&names.catalog_path, &names.runtime_path);
        let problem = if cat == run {
            Some("the catalog path and the runtime path are the same")
        } else if cat.starts_with(&format!("{run}/")) {
            Some("the catalog must not live inside the runtime directory (Argo CD would apply it)")
        } else if run.starts_with(&format!("{cat}/")) {
            Some("the runtime directory must not live under the catalog path (the catalog is one file)")
        } else {
            None
        };
        if let Some(problem) = problem {
            f(
                "$.lane.names.catalogPath".into(),
                "catalog-in-runtime",
                problem.into(),
            );
        }
    }
    if d.ingress.enabled {
        f(
            "$.ingress.enabled".into(),
            "ingress-placeholder",
            "public entry is not part of v0.1; add a reviewed ingress spec before enabling it"
                .into(),
        );
    }

    let sa_names: BTreeSet<&str> = d.service_accounts.iter().map(|s| s.name.as_str()).collect();
    let pvc_names: BTreeSet<&str> = d
        .persistent_volume_claims
        .iter()
        .map(|s| s.name.as_str())
        .collect();
    let mut ids = BTreeSet::new();
    if d.services.is_empty() {
        f(
            "$.services".into(),
            "no-services",
            "a lane needs at least one service".into(),
        );
    }
    if d.services.len() > 1000 {
        f(
            "$.services".into(),
            "too-many",
            "at most 1000 services per lane".into(),
        );
    }
    for (i, s) in d.services.iter().enumerate() {
        let p = format!("$.services[{i}]");
        if !rules::is_dns1123_label(&s.id) || s.id.len() > 50 {
            f(
                format!("{p}.id"),
                "dns1123-label",
                "service id must be a DNS-1123 label of at most 50 characters".into(),
            );
        }
        if !ids.insert(s.id.as_str()) {
            f(
                format!("{p}.id"),
                "duplicate",
                format!("service id '{}' appears twice", s.id),
            );
        }
        check_service(s, &p, &sa_names, &pvc_names, &mut f);
    }
    let known: BTreeSet<&str> = d.services.iter().map(|s| s.id.as_str()).collect();
    check_list_limits(d, &mut f);
    let mut seen_sa = BTreeSet::new();
    for (i, sa) in d.service_accounts.iter().enumerate() {
        let p = format!("$.serviceAccounts[{i}]");
        if !seen_sa.insert(sa.name.as_str()) {
            f(
                format!("{p}.name"),
                "duplicate",
                format!(
                    "ServiceAccount '{}' appears twice; render would write two objects of that name",
                    truncate(&sa.name, 80)
                ),
            );
        }
        if !rules::is_dns1123_subdomain(&sa.name) {
            f(
                format!("{p}.name"),
                "dns1123-subdomain",
                "must be a DNS-1123 subdomain".into(),
            );
        }
        for (j, r) in sa.rules.iter().enumerate() {
            if r.verbs.is_empty() || r.resources.is_empty() {
                f(
                    format!("{p}.rules[{j}]"),
                    "rbac-rule",
                    "a rule needs at least one verb and one resource".into(),
                );
            }
            for (field, list, max) in [
                ("apiGroups", &r.api_groups, 253),
                ("resources", &r.resources, 253),
                ("verbs", &r.verbs, 63),
                ("resourceNames", &r.resource_names, 253),
            ] {
                for (k, v) in list.iter().enumerate() {
                    if v.chars().count() > max {
                        f(
                            format!("{p}.rules[{j}].{field}[{k}]"),
                            "too-long",
                            format!("at most {max} characters (a Kubernetes name)"),
                        );
                    }
                }
            }
            if r.verbs.iter().any(|v| v == "*")
                || r.resources.iter().any(|v| v == "*")
                || r.api_groups.iter().any(|v| v == "*")
            {
                f(
                    format!("{p}.rules[{j}]"),
                    "rbac-wildcard",
                    "wildcards are not least privilege; name the groups, resources and verbs"
                        .into(),
                );
            }
            if r.resources.iter().any(|x| x == "secrets")
                && r.verbs.iter().any(|v| v == "list" || v == "watch")
            {
                f(
                    format!("{p}.rules[{j}]"),
                    "rbac-secrets",
                    "listing or watching Secrets exposes every value; use get with resourceNames"
                        .into(),
                );
            }
        }
    }
    let mut seen_pvc = BTreeSet::new();
    for (i, c) in d.persistent_volume_claims.iter().enumerate() {
        let p = format!("$.persistentVolumeClaims[{i}]");
        if !seen_pvc.insert(c.name.as_str()) {
            f(
                format!("{p}.name"),
                "duplicate",
                format!(
                    "PVC '{}' appears twice; render would write two objects of that name",
                    truncate(&c.name, 80)
                ),
            );
        }
        if !rules::is_dns1123_subdomain(&c.name) {
            f(
                format!("{p}.name"),
                "dns1123-subdomain",
                "must be a DNS-1123 subdomain".into(),
            );
        }
        if !rules::is_quantity(&c.size) {
            f(
                format!("{p}.size"),
                "quantity",
                "must be a Kubernetes quantity like 10Gi".into(),
            );
        }
        if c.storage_class_name
            .as_deref()
            .is_some_and(|n| !rules::is_dns1123_subdomain(n))
        {
            f(
                format!("{p}.storageClassName"),
                "dns1123-subdomain",
                "must be a StorageClass name".into(),
            );
        }
    }
    for (i, a) in d.network_policy.ingress.iter().enumerate() {
        let p = format!("$.networkPolicy.ingress[{i}]");
        if !known.contains(a.to.as_str()) {
            f(
                format!("{p}.to"),
                "unknown-service",
                format!("no service '{}' in this lane", truncate(&a.to, 60)),
            );
        }
        for (j, s) in a.from_services.iter().enumerate() {
            if !known.contains(s.as_str()) {
                f(
                    format!("{p}.fromServices[{j}]"),
                    "unknown-service",
                    format!("no service '{}' in this lane", truncate(s, 60)),
                );
            }
        }
        for (j, c) in a.from_cidrs.iter().enumerate() {
            if !rules::is_ipv4_cidr(c) {
                f(
                    format!("{p}.fromCidrs[{j}]"),
                    "cidr",
                    "must be an IPv4 CIDR like 10.0.0.0/8".into(),
                );
            }
        }
        for (j, n) in a.from_namespaces.iter().enumerate() {
            if let Some(l) = legacy_name_in(n) {
                f(
                    format!("{p}.fromNamespaces[{j}]"),
                    "legacy-target",
                    format!("'{l}' belongs to the old dev/prod model; a lane never opens to it"),
                );
            } else if !rules::is_dns1123_label(n) {
                f(
                    format!("{p}.fromNamespaces[{j}]"),
                    "dns1123-label",
                    "must be a namespace name".into(),
                );
            }
        }
        // Port names refer to the receiving service's ports; a typo would silently open none.
        if let Some(to) = d.service(&a.to) {
            for (j, port) in a.ports.iter().enumerate() {
                if !to.ports.iter().any(|x| &x.name == port) {
                    f(
                        format!("{p}.ports[{j}]"),
                        "unknown-port",
                        format!(
                            "service '{}' has no port named '{}'",
                            a.to,
                            truncate(port, 40)
                        ),
                    );
                }
            }
        }
    }
    for (i, e) in d.network_policy.egress.iter().enumerate() {
        let p = format!("$.networkPolicy.egress[{i}]");
        if !known.contains(e.from.as_str()) {
            f(
                format!("{p}.from"),
                "unknown-service",
                format!("no service '{}' in this lane", truncate(&e.from, 60)),
            );
        }
        for (j, s) in e.to_services.iter().enumerate() {
            if !known.contains(s.as_str()) {
                f(
                    format!("{p}.toServices[{j}]"),
                    "unknown-service",
                    format!("no service '{}' in this lane", truncate(s, 60)),
                );
            }
        }
        for (j, n) in e.to_namespaces.iter().enumerate() {
            if let Some(l) = legacy_name_in(n) {
                f(
                    format!("{p}.toNamespaces[{j}]"),
                    "legacy-target",
                    format!("'{l}' belongs to the old dev/prod model; a lane never sends to it"),
                );
            } else if !rules::is_dns1123_label(n) {
                f(
                    format!("{p}.toNamespaces[{j}]"),
                    "dns1123-label",
                    "must be a namespace name".into(),
                );
            }
        }
        for (j, c) in e.to_cidrs.iter().enumerate() {
            if !rules::is_ipv4_cidr(c) {
                f(
                    format!("{p}.toCidrs[{j}]"),
                    "cidr",
                    "must be an IPv4 CIDR like 10.0.0.0/8".into(),
                );
            }
        }
        for (j, port) in e.ports.iter().enumerate() {
            if *port == 0 {
                f(
                    format!("{p}.ports[{j}]"),
                    "port-range",
                    "ports are 1-65535".into(),
                );
            }
        }
    }
    out
}

/// Longest lists, as deploy/deploy.schema.json states them (`maxItems`/`maxProperties`;
/// tests/schema.rs compares every limit of the two).
fn check_list_limits(d: &DeployIntent, f: &mut impl FnMut(String, &'static str, String)) {
    let mut limit = |path: String, len: usize, max: usize| {
        if len > max {
            f(
                path,
                "too-many",
                format!("at most {max} entries here, found {len}"),
            );
        }
    };
    limit("$.serviceAccounts".into(), d.service_accounts.len(), 100);
    limit(
        "$.persistentVolumeClaims".into(),
        d.persistent_volume_claims.len(),
        100,
    );
    limit(
        "$.lane.proxy.noProxy".into(),
        d.lane.proxy.no_proxy.len(),
        200,
    );
    for (i, s) in d.services.iter().enumerate() {
        let p = format!("$.services[{i}]");
        limit(format!("{p}.ports"), s.ports.len(), 100);
        limit(format!("{p}.command"), s.command.len(), 256);
        limit(format!("{p}.args"), s.args.len(), 256);
        limit(format!("{p}.env"), s.env.len(), 1000);
        limit(format!("{p}.config"), s.config.len(), 1000);
        limit(format!("{p}.volumes"), s.volumes.len(), 100);
        if let Some(b) = &s.build {
            limit(format!("{p}.build.args"), b.args.len(), 1000);
        }
        for (j, v) in s.volumes.iter().enumerate() {
            if let Some(sec) = &v.secret {
                limit(
                    format!("{p}.volumes[{j}].secret.items"),
                    sec.items.len(),
                    100,
                );
            }
        }
    }
    for (i, sa) in d.service_accounts.iter().enumerate() {
        let p = format!("$.serviceAccounts[{i}]");
        limit(format!("{p}.rules"), sa.rules.len(), 100);
        for (j, r) in sa.rules.iter().enumerate() {
            let rp = format!("{p}.rules[{j}]");
            limit(format!("{rp}.apiGroups"), r.api_groups.len(), 50);
            limit(format!("{rp}.resources"), r.resources.len(), 50);
            limit(format!("{rp}.verbs"), r.verbs.len(), 20);
            limit(format!("{rp}.resourceNames"), r.resource_names.len(), 100);
        }
    }
    for (i, c) in d.persistent_volume_claims.iter().enumerate() {
        limit(
            format!("$.persistentVolumeClaims[{i}].accessModes"),
            c.access_modes.len(),
            4,
        );
    }
    let np = &d.network_policy;
    limit("$.networkPolicy.ingress".into(), np.ingress.len(), 1000);
    limit("$.networkPolicy.egress".into(), np.egress.len(), 1000);
    for (i, a) in np.ingress.iter().enumerate() {
        let p = format!("$.networkPolicy.ingress[{i}]");
        limit(format!("{p}.fromServices"), a.from_services.len(), 1000);
        limit(format!("{p}.fromNamespaces"), a.from_namespaces.len(), 1000);
        limit(format!("{p}.fromCidrs"), a.from_cidrs.len(), 1000);
        limit(format!("{p}.ports"), a.ports.len(), 100);
    }
    for (i, e) in np.egress.iter().enumerate() {
        let p = format!("$.networkPolicy.egress[{i}]");
        limit(format!("{p}.toServices"), e.to_services.len(), 1000);
        limit(format!("{p}.toNamespaces"), e.to_namespaces.len(), 1000);
        limit(format!("{p}.toCidrs"), e.to_cidrs.len(), 1000);
        limit(format!("{p}.ports"), e.ports.len(), 100);
    }
}

fn check_service(
    s: &Service,
    p: &str,
    sa_names: &BTreeSet<&str>,
    pvc_names: &BTreeSet<&str>,
    f: &mut impl FnMut(String, &'static str, String),
) {
    if s.build.is_some() && s.upstream.is_some() {
        f(
            format!("{p}.upstream"),
            "one-image-source",
            "a service is either built (build) or image-only (upstream), not both".into(),
        );
    }
    if let Some(b) = &s.build {
        for (field, v) in [("context", &b.context), ("dockerfile", &b.dockerfile)] {
            if let Some(problem) = rules::repo_path_problem(v) {
                f(format!("{p}.build.{field}"), "repo-path", problem.into());
            }
        }
        for (k, v) in &b.args {
            if let Some(l) = legacy_name_in(v) {
                f(
                    key_path(&format!("{p}.build.args"), k),
                    "legacy-target",
                    format!("names '{l}', a namespace of the old dev/prod model"),
                );
            }
            if !rules::is_env_name(k) {
                f(
                    key_path(&format!("{p}.build.args"), k),
                    "arg-name",
                    "build arg names are letters, digits and _".into(),
                );
            }
        }
        if let Some(t) = &b.target {
            if !rules::is_image_tag(t) {
                f(
                    format!("{p}.build.target"),
                    "build-target",
                    "must be a Dockerfile stage name".into(),
                );
            }
        }
    }
    if let Some(u) = &s.upstream {
        let (host, path) = u.repository.split_once('/').unwrap_or(("", ""));
        // A full image name is at most 255 characters, host included (distribution's
        // reference grammar; deploy/deploy.schema.json says the same).
        if !rules::is_registry_host(host)
            || !rules::is_repository_path(path)
            || u.repository.len() > 255
        {
            f(
                format!("{p}.upstream.repository"),
                "upstream-repository",
                "must be a fully qualified repository like docker.io/library/redis".into(),
            );
        }
        if !rules::is_image_tag(&u.tag) {
            f(
                format!("{p}.upstream.tag"),
                "image-tag",
                "must be a valid image tag".into(),
            );
        }
    }
    if let Some(r) = &s.image_repository {
        if !rules::is_repository_path(r) {
            f(
                format!("{p}.imageRepository"),
                "repository-path",
                "must be a repository path under the lane registry, like agentrun/mgr".into(),
            );
        }
    }
    if let Some(n) = s.replicas {
        if n > 100 {
            f(
                format!("{p}.replicas"),
                "replicas-range",
                "replicas must be between 0 and 100".into(),
            );
        }
        if s.kind == super::intent::ComponentKind::Job {
            f(
                format!("{p}.replicas"),
                "job-replicas",
                "a runner Job template has no replicas".into(),
            );
        }
    }
    for (which, list) in [
        ("requests", &s.resources.requests),
        ("limits", &s.resources.limits),
    ] {
        if let Some(list) = list {
            for (res, q) in [
                ("cpu", &list.cpu),
                ("memory", &list.memory),
                ("ephemeral-storage", &list.ephemeral_storage),
            ] {
                if let Some(q) = q {
                    if !rules::is_quantity(q) {
                        f(
                            key_path(&format!("{p}.resources.{which}"), res),
                            "quantity",
                            format!(
                                "'{}' is not a Kubernetes quantity (e.g. 100m, 256Mi)",
                                truncate(q, 40)
                            ),
                        );
                    }
                }
            }
        }
    }
    let mut port_names = BTreeSet::new();
    for (i, port) in s.ports.iter().enumerate() {
        let pp = format!("{p}.ports[{i}]");
        if !rules::is_port_name(&port.name) {
            f(
                format!("{pp}.name"),
                "port-name",
                "port names are lowercase, at most 15 characters, with a letter".into(),
            );
        }
        if !port_names.insert(port.name.as_str()) {
            f(
                format!("{pp}.name"),
                "duplicate",
                format!("port '{}' appears twice", port.name),
            );
        }
        if port.container_port == 0 {
            f(
                format!("{pp}.containerPort"),
                "port-range",
                "ports are 1-65535".into(),
            );
        }
        if port.service_port == Some(0) {
            f(
                format!("{pp}.servicePort"),
                "port-range",
                "ports are 1-65535".into(),
            );
        }
    }
    if let Some(h) = &s.health {
        if !h.path.starts_with('/')
            || h.path.chars().any(|c| c.is_whitespace() || c.is_control())
            || h.path.len() > 1024
        {
            f(
                format!("{p}.health.path"),
                "health-path",
                "must be an absolute HTTP path like /health".into(),
            );
        }
        if !port_names.contains(h.port.as_str()) {
            f(
                format!("{p}.health.port"),
                "unknown-port",
                format!("no port named '{}' on this service", truncate(&h.port, 40)),
            );
        }
    }
    for (field, list) in [("command", &s.command), ("args", &s.args)] {
        for (i, a) in list.iter().enumerate() {
            if a.chars().count() > rules::MAX_TEXT_CHARS {
                f(
                    format!("{p}.{field}[{i}]"),
                    "too-long",
                    "arguments are limited to 4096 bytes".into(),
                );
            }
        }
    }
    let mut env_names = BTreeSet::new();
    for (i, e) in s.env.iter().enumerate() {
        let ep = format!("{p}.env[{i}]");
        if !rules::is_env_name(&e.name) {
            f(
                format!("{ep}.name"),
                "env-name",
                "env names are letters, digits, '_', '-' and '.'".into(),
            );
        }
        if !env_names.insert(e.name.as_str()) {
            f(
                format!("{ep}.name"),
                "duplicate",
                format!("env '{}' appears twice", e.name),
            );
        }
        if let Some(l) = e.value.as_deref().and_then(legacy_name_in) {
            f(
                format!("{ep}.value"),
                "legacy-target",
                format!("names '{l}', a namespace of the old dev/prod model; a lane only reaches its own namespace and shared services"),
            );
        }
        let sources = e.value.is_some() as u8
            + e.secret_key_ref.is_some() as u8
            + e.config_map_key_ref.is_some() as u8;
        if sources != 1 {
            f(
                ep.clone(),
                "env-source",
                "give exactly one of value, secretKeyRef, configMapKeyRef".into(),
            );
        }
        for (which, r) in [
            ("secretKeyRef", &e.secret_key_ref),
            ("configMapKeyRef", &e.config_map_key_ref),
        ] {
            if let Some(r) = r {
                if !rules::is_dns1123_subdomain(&r.name) {
                    f(
                        format!("{ep}.{which}.name"),
                        "dns1123-subdomain",
                        "must be a Secret/ConfigMap name".into(),
                    );
                }
                if !rules::is_config_key(&r.key) {
                    f(
                        format!("{ep}.{which}.key"),
                        "config-key",
                        "keys are letters, digits, '-', '_' and '.'".into(),
                    );
                }
            }
        }
    }
    for (k, v) in &s.config {
        if let Some(l) = legacy_name_in(v) {
            f(
                key_path(&format!("{p}.config"), k),
                "legacy-target",
                format!("names '{l}', a namespace of the old dev/prod model; a lane only reaches its own namespace and shared services"),
            );
        }
        if !rules::is_config_key(k) || !rules::is_env_name(k) {
            f(
                key_path(&format!("{p}.config"), k),
                "config-key",
                "config keys become env names: letters, digits and _".into(),
            );
        }
    }
    let secret_vols: BTreeSet<&str> = s
        .volumes
        .iter()
        .filter(|v| v.secret.is_some())
        .map(|v| v.name.as_str())
        .collect();
    let mut vol_names = BTreeSet::new();
    let mut mounts = BTreeSet::new();
    for (i, v) in s.volumes.iter().enumerate() {
        let vp = format!("{p}.volumes[{i}]");
        if !rules::is_dns1123_label(&v.name) {
            f(
                format!("{vp}.name"),
                "dns1123-label",
                "volume names are DNS-1123 labels".into(),
            );
        }
        if !vol_names.insert(v.name.as_str()) {
            f(
                format!("{vp}.name"),
                "duplicate",
                format!("volume '{}' appears twice", v.name),
            );
        }
        if !v.mount_path.starts_with('/')
            || v.mount_path.split('/').any(|c| c == "..")
            || v.mount_path.contains(':')
        {
            f(
                format!("{vp}.mountPath"),
                "mount-path",
                "must be an absolute container path without '..' or ':'".into(),
            );
        }
        if !mounts.insert(v.mount_path.as_str()) {
            f(
                format!("{vp}.mountPath"),
                "duplicate",
                "two volumes mount at the same path".into(),
            );
        }
        let sources =
            v.secret.is_some() as u8 + v.pvc.is_some() as u8 + v.writable_home.is_some() as u8;
        if sources != 1 {
            f(
                vp.clone(),
                "volume-source",
                "give exactly one of secret, pvc, writableHome".into(),
            );
        }
        if let Some(sec) = &v.secret {
            if !rules::is_dns1123_subdomain(&sec.secret_name) {
                f(
                    format!("{vp}.secret.secretName"),
                    "dns1123-subdomain",
                    "must be a Secret name".into(),
                );
            }
            if sec.items.is_empty() {
                f(
                    format!("{vp}.secret.items"),
                    "secret-items",
                    "name the keys to project; projecting a whole Secret hides what the pod reads"
                        .into(),
                );
            }
            for (j, it) in sec.items.iter().enumerate() {
                if !rules::is_config_key(&it.key) {
                    f(
                        format!("{vp}.secret.items[{j}].key"),
                        "config-key",
                        "keys are letters, digits, '-', '_' and '.'".into(),
                    );
                }
                if let Some(path) = &it.path {
                    if rules::repo_path_problem(path).is_some() {
                        f(
                            format!("{vp}.secret.items[{j}].path"),
                            "item-path",
                            "must be a relative file name inside the mount".into(),
                        );
                    }
                }
            }
        }
        if let Some(c) = &v.pvc {
            if !pvc_names.contains(c.claim_name.as_str()) {
                f(
                    format!("{vp}.pvc.claimName"),
                    "unknown-pvc",
                    format!(
                        "no PVC '{}' in persistentVolumeClaims",
                        truncate(&c.claim_name, 60)
                    ),
                );
            }
        }
        if let Some(h) = &v.writable_home {
            if let Some(from) = &h.copy_from {
                if !secret_vols.contains(from.as_str()) {
                    f(
                        format!("{vp}.writableHome.copyFrom"),
                        "unknown-volume",
                        format!("no secret volume '{}' on this service", truncate(from, 60)),
                    );
                }
            }
            if let Some(e) = &h.env {
                if !rules::is_env_name(e) {
                    f(
                        format!("{vp}.writableHome.env"),
                        "env-name",
                        "must be an env var name like CODEX_HOME".into(),
                    );
                }
            }
            if let Some(q) = &h.size_limit {
                if !rules::is_quantity(q) {
                    f(
                        format!("{vp}.writableHome.sizeLimit"),
                        "quantity",
                        "must be a Kubernetes quantity like 1Gi".into(),
                    );
                }
            }
        }
    }
    if let Some(sa) = &s.service_account {
        if !sa_names.contains(sa.as_str()) {
            f(
                format!("{p}.serviceAccount"),
                "unknown-service-account",
                format!(
                    "no ServiceAccount '{}' in serviceAccounts",
                    truncate(sa, 60)
                ),
            );
        }
    }
    if s.kind == super::intent::ComponentKind::Deployment && s.job.is_some() {
        f(
            format!("{p}.job"),
            "job-settings",
            "job settings apply to kind 'job' only".into(),
        );
    }
    let _ = matches!(s.source(), ImageSource::Unsupported); // reported by plan, not rejected here
}

/// Filesystem checks of build paths: they must exist and not leave the repo through symlinks.
pub fn check_paths_on_disk(d: &DeployIntent, root: &Path, out: &mut Vec<Finding>) {
    let root_real = match root.canonicalize() {
        Ok(r) if r.is_dir() => r,
        _ => {
            // Skipping every path check silently would pass a tree that was never looked at.
            out.push(Finding {
                path: "$".into(),
                rule: "repo-root",
                message: format!(
                    "the repository root '{}' is not a directory, so no build path could be checked; pass the source checkout",
                    truncate(&root.display().to_string(), 200)
                ),
            });
            return;
        }
    };
    for (i, s) in d.services.iter().enumerate() {
        let Some(b) = &s.build else { continue };
        for (field, v, want_dir) in [
            ("context", &b.context, true),
            ("dockerfile", &b.dockerfile, false),
        ] {
            if rules::repo_path_problem(v).is_some() {
                continue; // already reported
            }
            let path = format!("$.services[{i}].build.{field}");
            let full: PathBuf = root.join(rules::normalize_repo_path(v));
            match full.canonicalize() {
                Err(_) => out.push(Finding {
                    path,
                    rule: "path-missing",
                    message: format!("'{}' does not exist in the repository", truncate(v, 200)),
                }),
                Ok(real) if !real.starts_with(&root_real) => out.push(Finding {
                    path,
                    rule: "path-escapes",
                    message: format!(
                        "'{}' resolves outside the repository through a symlink",
                        truncate(v, 200)
                    ),
                }),
                Ok(real) if real.is_dir() != want_dir => out.push(Finding {
                    path,
                    rule: "path-kind",
                    message: format!(
                        "'{}' must be a {}",
                        truncate(v, 200),
                        if want_dir { "directory" } else { "file" }
                    ),
                }),
                Ok(_) => {}
            }
        }
    }
}

/// Load and check a catalog file: strict parse, format rules, and (when names are given) the
/// lane it belongs to.
pub fn parse_catalog(
    bytes: &[u8],
    file: &str,
    names: Option<&LaneNames>,
) -> Result<super::catalog::Catalog, InputError> {
    let value = parse_json(bytes, file)?;
    if !value.is_object() {
        return Err(InputError::Invalid {
            file: file.into(),
            findings: vec![not_an_object()],
        });
    }
    let mut findings = Vec::new();
    // A catalog never holds a credential either.
    scan_secrets_only(&value, "$", &mut findings);
    if !findings.is_empty() {
        return Err(InputError::Invalid {
            file: file.into(),
            findings,
        });
    }
    let cat: super::catalog::Catalog = from_value(value, file)?;
    let mut findings: Vec<Finding> = cat
        .check()
        .into_iter()
        .chain(names.map(|n| cat.check_lane(n)).unwrap_or_default())
        .map(|c| Finding {
            path: c.path,
            rule: c.rule,
            message: c.message,
        })
        .collect();
    // Catalog::check writes `$.services.<id>`; use the one path notation everywhere.
    for f in &mut findings {
        for id in cat.services.keys() {
            let dotted = format!("$.services.{id}");
            let rest = f.path.strip_prefix(&dotted);
            if let Some(rest) = rest.filter(|r| r.is_empty() || r.starts_with('.')) {
                f.path = format!("{}{rest}", key_path("$.services", id));
                break;
            }
        }
    }
    findings.extend(check_catalog_fields(&cat));
    findings.dedup();
    if findings.is_empty() {
        Ok(cat)
    } else {
        Err(InputError::Invalid {
            file: file.into(),
            findings,
        })
    }
}

/// Catalog field formats beyond [`super::catalog::Catalog::check`]: repository, branches,
/// image repositories, media types, platforms, PipelineRun names.
fn check_catalog_fields(cat: &super::catalog::Catalog) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut f = |path: String, rule: &'static str, message: &str| {
        out.push(Finding {
            path,
            rule,
            message: message.into(),
        })
    };
    if let Err(e) = crate::git::remote::Remote::parse(&cat.source_repo) {
        f("$.sourceRepo".into(), "repo-url", &e.to_string());
    }
    for (p, v) in [
        ("$.sourceBranch", &cat.source_branch),
        ("$.gitopsBranch", &cat.gitops_branch),
    ] {
        if !rules::is_branch_name(v) {
            f(p.into(), "branch-name", "must be a valid git branch name");
        }
    }
    if cat.services.len() > 1000 {
        f(
            "$.services".into(),
            "too-many",
            "at most 1000 services per lane (the catalog schema's limit)",
        );
    }
    for (id, e) in &cat.services {
        let p = key_path("$.services", id);
        if e.platforms.len() > 64 {
            f(
                format!("{p}.platforms"),
                "too-many",
                "at most 64 platforms per image",
            );
        }
        if !rules::is_qualified_repository(&e.image_repository) {
            f(
                format!("{p}.imageRepository"),
                "image-repository",
                "must be host[:port]/path of at most 255 characters, e.g. 127.0.0.1:5000/agentrun/agentrun-mgr",
            );
        }
        if e.media_type
            .as_deref()
            .is_some_and(|m| !rules::is_media_type(m))
        {
            f(
                format!("{p}.mediaType"),
                "media-type",
                "must be a lowercase type/subtype like application/vnd.oci.image.manifest.v1+json",
            );
        }
        for (i, pl) in e.platforms.iter().enumerate() {
            if !rules::is_platform(pl) {
                f(
                    format!("{p}.platforms[{i}]"),
                    "platform",
                    "must be os/arch[/variant], e.g. linux/amd64",
                );
            }
        }
        if e.pipeline_run
            .as_deref()
            .is_some_and(|r| !rules::is_dns1123_label(r))
        {
            f(
                format!("{p}.pipelineRun"),
                "dns1123-label",
                "a PipelineRun name is a DNS-1123 label",
            );
        }
    }
    out
}

fn scan_secrets_only(v: &Value, path: &str, out: &mut Vec<Finding>) {
    match v {
        Value::Object(m) => {
            for (k, c) in m {
                match secrets::classify(k) {
                    Some(kind) => out.push(secret_key_finding(path, kind, k)),
                    None => scan_secrets_only(c, &key_path(path, k), out),
                }
            }
        }
        Value::Array(a) => a
            .iter()
            .enumerate()
            .for_each(|(i, c)| scan_secrets_only(c, &format!("{path}[{i}]"), out)),
        Value::String(s) => {
            if let Some((rule, message)) = text_problem(s) {
                out.push(Finding {
                    path: path.into(),
                    rule,
                    message,
                });
            } else if let Some(kind) = secrets::classify(s) {
                out.push(Finding {
                    path: path.into(),
                    rule: "secret-value",
                    message: format!(
                        "value looks like {} ({})",
                        kind.describe(),
                        secrets::redacted(s)
                    ),
                });
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SHIPPED: &str = include_str!("../../deploy/deploy.json");

    fn shipped() -> Value {
        serde_json::from_str(SHIPPED).unwrap()
    }

    fn findings_of(v: &Value) -> Vec<Finding> {
        match parse_intent(&serde_json::to_vec(v).unwrap(), "t.json", None) {
            Ok(_) => vec![],
            Err(e) => e.findings(),
        }
    }

    fn has(f: &[Finding], path: &str, rule: &str) -> bool {
        f.iter().any(|x| x.path == path && x.rule == rule)
    }

    #[test]
    fn shipped_lane_is_valid() {
        parse_intent(SHIPPED.as_bytes(), "deploy.json", None).unwrap();
    }

    #[test]
    fn a_digest_after_another_sha256_is_still_found() {
        let mut d = shipped();
        d["services"][0]["env"][0]["value"] =
            json_str(&format!("sha256:short then x@sha256:{}", "a".repeat(64)));
        let f = findings_of(&d);
        assert!(
            has(&f, "$.services[0].env[0].value", "forbidden-image-identity"),
            "{f:?}"
        );
    }

    fn json_str(s: &str) -> Value {
        Value::String(s.into())
    }

    #[test]
    fn secret_looking_keys_are_reported_without_echo() {
        let token = "ghp_abcdefghijklmnopqrstuvwxyz0123456789";
        let mut d = shipped();
        d["services"][0]["config"][token] = json_str("1");
        let e = parse_intent(&serde_json::to_vec(&d).unwrap(), "t.json", None).unwrap_err();
        assert!(has(&e.findings(), "$.services[0].config", "secret-value"));
        assert!(!e.to_string().contains(token));
        assert!(!format!("{:?}", e.findings()).contains(token));
    }

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

    #[test]
    fn credential_arguments_are_rejected() {
        let mut d = shipped();
        d["services"][1]["args"] =
            serde_json::json!(["--token=$(API_TOKEN)", "--password=hunter2"]);
        let f = findings_of(&d);
        assert!(has(&f, "$.services[1].args[1]", "secret-literal"), "{f:?}");
        assert!(!has(&f, "$.services[1].args[0]", "secret-literal"));
        assert!(!format!("{f:?}").contains("hunter2"));
    }

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

    fn good_catalog() -> Value {
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

    fn catalog_findings(v: &Value) -> Vec<Finding> {
        match parse_catalog(&serde_json::to_vec(v).unwrap(), "c.json", None) {
            Ok(_) => vec![],
            Err(e) => e.findings(),
        }
    }

    #[test]
    fn catalog_fields_and_paths() {
        assert!(catalog_findings(&good_catalog()).is_empty());
        let mut c = good_catalog();
        let e = &mut c["services"]["agentrun-mgr"];
        e["imageRepository"] = json_str("agentrun-mgr");
        e["mediaType"] = json_str("JSON");
        e["platforms"] = serde_json::json!(["linux"]);
        e["pipelineRun"] = json_str("Run_1");
        e["digest"] = json_str("sha256:abc");
        c["gitopsBranch"] = json_str("a..b");
        let f = catalog_findings(&c);
        let p = "$.services['agentrun-mgr']";
        for (path, rule) in [
            (format!("{p}.imageRepository"), "image-repository"),
            (format!("{p}.mediaType"), "media-type"),
            (format!("{p}.platforms[0]"), "platform"),
            (format!("{p}.pipelineRun"), "dns1123-label"),
            (format!("{p}.digest"), "digest"),
            ("$.gitopsBranch".to_string(), "branch-name"),
        ] {
            assert!(has(&f, &path, rule), "{path} {rule}: {f:?}");
        }
    }

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
