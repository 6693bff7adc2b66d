//! Every rendered file is parsed back and checked before anything is returned: a broken
//! template fails the render here, not in Argo CD. Findings name the file, the JSON path and
//! the rule; they never carry a value that might be a credential.

use super::RenderError;
use crate::model::rules::{self, TagPolicy};
use crate::model::secrets;
use crate::yaml::Node;

/// What a file must contain.
pub struct Expect<'a> {
    pub file: &'a str,
    pub api_version: &'a str,
    pub kind: &'a str,
    pub name: &'a str,
    /// `None` for the kustomization (it has no metadata).
    pub namespace: Option<&'a str>,
}

fn bad(file: &str, path: &str, rule: &'static str, message: impl Into<String>) -> RenderError {
    RenderError::Invalid {
        file: file.into(),
        path: path.into(),
        rule,
        message: message.into(),
    }
}

/// Parse `text` as exactly one YAML document.
pub fn parse_one<'t>(file: &str, text: &'t str) -> Result<Node<'t>, RenderError> {
    let docs = crate::yaml::nodes(text)
        .map_err(|e| bad(file, "$", "yaml-parse", format!("not valid YAML: {e}")))?;
    match <[Node<'t>; 1]>::try_from(docs) {
        Ok([doc]) => Ok(doc),
        Err(docs) => Err(bad(
            file,
            "$",
            "one-document",
            format!("must hold exactly one YAML document, found {}", docs.len()),
        )),
    }
}

fn str_at<'v>(doc: &'v Node<'_>, keys: &[&str]) -> Option<&'v str> {
    doc.at(keys).and_then(Node::as_str)
}

/// Check one parsed object against what was planned.
pub fn check(doc: &Node<'_>, want: &Expect<'_>) -> Result<(), RenderError> {
    let f = want.file;
    if !doc.is_map() {
        return Err(bad(f, "$", "object", "the document must be a mapping"));
    }
    for (key, path, expected) in [
        ("apiVersion", "$.apiVersion", want.api_version),
        ("kind", "$.kind", want.kind),
    ] {
        let got = str_at(doc, &[key]);
        if got != Some(expected) {
            return Err(bad(
                f,
                path,
                "object-identity",
                format!("expected '{expected}', found {}", shown(got)),
            ));
        }
    }
    if want.kind == "Secret" || str_at(doc, &["kind"]) == Some("Secret") {
        return Err(bad(
            f,
            "$.kind",
            "no-secret-objects",
            "the runtime tree never contains a Secret object; Secrets are created outside GitOps",
        ));
    }
    if let Some(ns) = want.namespace {
        let name = str_at(doc, &["metadata", "name"]);
        if name != Some(want.name) {
            return Err(bad(
                f,
                "$.metadata.name",
                "object-identity",
                format!("expected '{}', found {}", want.name, shown(name)),
            ));
        }
        if !rules::is_dns1123_subdomain(want.name) {
            return Err(bad(
                f,
                "$.metadata.name",
                "dns1123-subdomain",
                "object names must be DNS-1123 subdomains (lowercase letters, digits, '-', '.')",
            ));
        }
        let got_ns = str_at(doc, &["metadata", "namespace"]);
        if got_ns != Some(ns) {
            return Err(bad(
                f,
                "$.metadata.namespace",
                "lane-namespace",
                format!(
                    "every object lives in the lane namespace '{ns}', found {}",
                    shown(got_ns)
                ),
            ));
        }
    }
    walk(doc, &mut String::from("$"), f)
}

fn shown(v: Option<&str>) -> String {
    match v {
        Some(s) if s.len() <= 80 && secrets::classify(s).is_none() => format!("'{s}'"),
        Some(s) => crate::redact::redacted(s),
        None => "nothing".into(),
    }
}

/// Keys that must never appear in the runtime tree (docs/architecture.md, "Runtime boundaries":
/// only ClusterIP Services, no host networking or ports, no privileged pods).
const FORBIDDEN_KEYS: &[&str] = &["hostPort", "hostNetwork", "hostPID", "hostIPC", "nodePort"];

fn walk(v: &Node<'_>, path: &mut String, file: &str) -> Result<(), RenderError> {
    match v {
        Node::Str(s) => {
            if let Some(kind) = secrets::classify(s) {
                return Err(bad(
                    file,
                    path,
                    "secret-value",
                    format!(
                        "holds {} ({}); secrets reach pods only through secretKeyRef or a secret volume",
                        kind.describe(),
                        crate::redact::redacted(s)
                    ),
                ));
            }
        }
        Node::Seq(items) => {
            for (i, it) in items.iter().enumerate() {
                let len = path.len();
                use std::fmt::Write;
                let _ = write!(path, "[{i}]");
                walk(it, path, file)?;
                path.truncate(len);
            }
        }
        Node::Map(map) => {
            for (k, it) in map {
                let k: &str = k;
                let len = path.len();
                path.push('.');
                path.push_str(k);
                if FORBIDDEN_KEYS.contains(&k) {
                    return Err(bad(
                        file,
                        path,
                        "cluster-ip-only",
                        "no NodePort, hostPort or host namespaces: entries are ClusterIP Services only",
                    ));
                }
                match (k, it) {
                    ("image", Node::Str(s)) if !rules::is_pinned(s, TagPolicy::Refused) => {
                        return Err(bad(
                            file,
                            path,
                            "digest-pinned",
                            "images are pinned by digest (<repository>@sha256:<64 hex>), never a tag",
                        ));
                    }
                    ("type", Node::Str(s)) if path.ends_with("$.spec.type") && s != "ClusterIP" => {
                        return Err(bad(
                            file,
                            path,
                            "cluster-ip-only",
                            "Services are ClusterIP only",
                        ));
                    }
                    ("privileged", Node::Bool(true)) => {
                        return Err(bad(
                            file,
                            path,
                            "no-privileged",
                            "privileged containers are not allowed",
                        ));
                    }
                    _ => {}
                }
                walk(it, path, file)?;
                path.truncate(len);
            }
        }
        _ => {}
    }
    Ok(())
}

/// The kustomization must list exactly the rendered object files.
pub fn check_kustomization(
    doc: &Node<'_>,
    file: &str,
    files: &[String],
) -> Result<(), RenderError> {
    let got: Option<Vec<&str>> = match doc.get("resources") {
        Some(Node::Seq(items)) => Some(items.iter().filter_map(Node::as_str).collect()),
        _ => None,
    };
    let want: Vec<&str> = files.iter().map(String::as_str).collect();
    if got.as_deref() != Some(&want[..]) {
        return Err(bad(
            file,
            "$.resources",
            "kustomization-resources",
            "must list every rendered object file, sorted",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multi_document_is_refused() {
        let e = parse_one("x.yaml", "a: 1\n---\nb: 2\n").unwrap_err();
        assert!(e.to_string().contains("one-document"), "{e}");
    }
}
