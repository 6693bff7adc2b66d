//! Pass 2, raw scan: the JSON as written, before any typed parse, searched for content that
//! never belongs in intent (machine state, generated manifests) and for credentials (in any
//! lane document, the catalog included). Values found are never echoed.

use serde_json::Value;

use super::{key_path, shown, truncate, Finding};
use crate::model::{rules, secrets};

/// Every finding of the raw scan of deploy.json.
pub fn scan_intent(value: &Value) -> Vec<Finding> {
    let mut out = Vec::new();
    scan(value, "$", Scope::Intent, &mut out);
    out
}

/// Every finding of the raw scan of a catalog: credentials only (its fields are machine
/// state by design).
pub fn scan_catalog(value: &Value) -> Vec<Finding> {
    let mut out = Vec::new();
    scan_secrets_only(value, "$", &mut out);
    out
}

#[derive(Clone, Copy, PartialEq)]
enum Scope {
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

fn scan(v: &Value, path: &str, scope: Scope, out: &mut Vec<Finding>) {
    match v {
        Value::Object(map) => {
            // An env entry (or any name/value pair) whose name says "secret" but holds a literal.
            if let (Some(Value::String(name)), Some(Value::String(val))) =
                (map.get("name"), map.get("value"))
            {
                if secrets::is_secret_key_name(name) && !val.is_empty() {
                    out.push(Finding {
                        path: format!("{path}.value"),
                        rule: "secret-literal".into(),
                        message: format!(
                            "'{}' holds a literal value ({}); pass it with secretKeyRef to a lane Secret instead",
                            shown(name, 80),
                            crate::redact::redacted(val)
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
                if scope == Scope::Intent && !allowed_here(path, k) {
                    if let Some((rule, msg)) = forbidden_key(&normalize_key(k)) {
                        out.push(Finding {
                            path: child_path.clone(),
                            rule: rule.into(),
                            message: msg.to_string(),
                        });
                        continue;
                    }
                }
                if scope == Scope::FreeMap && secrets::is_secret_key_name(k) {
                    if let Value::String(s) = child {
                        if !s.is_empty() {
                            out.push(Finding {
                                path: child_path.clone(),
                                rule: "secret-literal".into(),
                                message: format!(
                                    "'{}' holds a literal value ({}); config and build args are not for secrets",
                                    truncate(k, 80),
                                    crate::redact::redacted(s)
                                ),
                            });
                            continue;
                        }
                    }
                }
                let child_scope = if scope == Scope::Intent
                    && path.starts_with("$.services[")
                    && (k == "config" || (k == "args" && path.ends_with(".build")))
                {
                    Scope::FreeMap
                } else {
                    scope
                };
                scan(child, &child_path, child_scope, out);
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
                            rule: "secret-literal".into(),
                            message: format!(
                                "follows {} and so is a credential given literally ({}); pass $(VAR) of an env var filled by secretKeyRef",
                                items[i - 1].as_str().unwrap_or_default(),
                                crate::redact::redacted(s)
                            ),
                        });
                        continue;
                    }
                }
                if let (true, Value::String(s)) = (argv, item) {
                    if secrets::is_credential_assignment(s) {
                        out.push(Finding {
                            path: item_path,
                            rule: "secret-literal".into(),
                            message: format!(
                                "argument sets a credential literally ({}); read it from an env var filled by secretKeyRef, e.g. --token=$(API_TOKEN)",
                                crate::redact::redacted(s)
                            ),
                        });
                        continue;
                    }
                }
                scan(item, &item_path, scope, out);
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
        rule: "secret-value".into(),
        message: format!(
            "a key of this object looks like {} ({}); credentials live only in Secrets",
            kind.describe(),
            crate::redact::redacted(key)
        ),
    }
}

fn scan_string(s: &str, path: &str, out: &mut Vec<Finding>) {
    if let Some(problem) = text_problem(s) {
        out.push(Finding {
            path: path.into(),
            rule: problem.0.into(),
            message: problem.1,
        });
        return;
    }
    if let Some(kind) = secrets::classify(s) {
        out.push(Finding {
            path: path.into(),
            rule: "secret-value".into(),
            message: format!(
                "value looks like {} ({}); credentials live only in Secrets, referenced by name and key",
                kind.describe(),
                crate::redact::redacted(s)
            ),
        });
        return;
    }
    if has_digest(s) {
        out.push(Finding {
            path: path.into(),
            rule: "forbidden-image-identity".into(),
            message:
                "an image digest is machine-written to the artifact catalog, never to deploy.json"
                    .into(),
        });
        return;
    }
    if is_hex40_word(s) {
        out.push(Finding {
            path: path.into(),
            rule: "forbidden-revision".into(),
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
                    rule: rule.into(),
                    message,
                });
            } else if let Some(kind) = secrets::classify(s) {
                out.push(Finding {
                    path: path.into(),
                    rule: "secret-value".into(),
                    message: format!(
                        "value looks like {} ({})",
                        kind.describe(),
                        crate::redact::redacted(s)
                    ),
                });
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::super::parse_intent;
    use super::super::test_support::*;

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
    fn credential_arguments_are_rejected() {
        let mut d = shipped();
        d["services"][1]["args"] =
            serde_json::json!(["--token=$(API_TOKEN)", "--password=hunter2"]);
        let f = findings_of(&d);
        assert!(has(&f, "$.services[1].args[1]", "secret-literal"), "{f:?}");
        assert!(!has(&f, "$.services[1].args[0]", "secret-literal"));
        assert!(!format!("{f:?}").contains("hunter2"));
    }
}
