//! Fixtures for `lane promote` tests: a source repository with deploy.json on the lane's
//! source branch, publish result files, and readers of a remote GitOps branch.

use std::path::{Path, PathBuf};
use std::process::Command;

use lane::model::catalog::CatalogDoc;
use lane::output::ErrorDocument;
use serde_json::{json, Value};

use super::gitrepo::{git, TestRepo};
use super::Run;

pub const GITOPS_BRANCH: &str = "v0.1-gitops";
pub const CATALOG: &str = "deploy/artifact-catalog.v01.json";
pub const RUNTIME: &str = "deploy/gitops/g14/runtime-v01";

/// The shipped deploy.json plus `extra` more deployments (`svc-2`, `svc-3`, …) cloned from
/// the first service. deploy.json is lane's input, which the tests build and edit: it stays
/// a `Value` (only the documents lane writes are read typed).
pub fn deploy_json(extra: usize) -> Value {
    let mut v: Value =
        serde_json::from_str(&std::fs::read_to_string(super::shipped_deploy()).unwrap()).unwrap();
    let template = v["services"][0].clone();
    for i in 0..extra {
        let mut s = template.clone();
        let id = format!("svc-{}", i + 2);
        s["id"] = json!(id);
        s["build"]["context"] = json!(format!("apps/{id}"));
        s["build"]["dockerfile"] = json!(format!("apps/{id}/Dockerfile"));
        if let Some(o) = s.as_object_mut() {
            o.remove("volumes");
            o.remove("serviceAccount");
        }
        v["services"].as_array_mut().unwrap().push(s);
    }
    v
}

/// (id, kind) of every service in a deploy.json.
pub fn services(deploy: &Value) -> Vec<(String, String)> {
    deploy["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["id"].as_str().unwrap().to_string(),
                s["kind"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// A source repository on branch `v0.1` whose first commit holds `deploy`.
pub fn source_repo(deploy: &Value) -> TestRepo {
    let r = TestRepo::init("v0.1");
    r.write(
        "deploy/deploy.json",
        &serde_json::to_string_pretty(deploy).unwrap(),
    );
    r.write("apps/mgr/Dockerfile", "FROM scratch\n");
    r.commit("source: deploy intent");
    r
}

/// `sha256:` + 64 hex made from `n`.
pub fn digest(n: u64) -> String {
    format!("sha256:{n:064x}")
}

/// Write a publish result for `commit` with one published image per (id, kind, digest).
pub fn publish_file(
    dir: &Path,
    name: &str,
    commit: &str,
    images: &[(String, String, String)],
) -> PathBuf {
    let images: Vec<Value> = images
        .iter()
        .map(|(id, kind, d)| {
            json!({
                "service": id,
                "kind": kind,
                "repository": format!("127.0.0.1:5000/agentrun/{id}"),
                "tag": commit,
                "digest": d,
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "status": "published",
                "fingerprint": format!("sha256:{}", "f".repeat(64)),
            })
        })
        .collect();
    let doc = json!({"schemaVersion": 1, "lane": "v0.1", "sourceCommit": commit, "images": images});
    let p = dir.join(name);
    std::fs::write(&p, serde_json::to_string_pretty(&doc).unwrap()).unwrap();
    p
}

/// Every service of `deploy` with digests `digest(base + i)`.
pub fn all_images(deploy: &Value, base: u64) -> Vec<(String, String, String)> {
    services(deploy)
        .into_iter()
        .enumerate()
        .map(|(i, (id, kind))| (id, kind, digest(base + i as u64)))
        .collect()
}

/// Tip of `branch` in a bare repository.
pub fn remote_head(bare: &Path, branch: &str) -> Option<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(bare)
        .args(["rev-parse", "--verify", "--quiet"])
        .arg(format!("refs/heads/{branch}^{{commit}}"))
        .output()
        .unwrap();
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// A file at `rev` in a bare repository.
pub fn show(bare: &Path, rev: &str, path: &str) -> Option<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(bare)
        .arg("show")
        .arg(format!("{rev}:{path}"))
        .output()
        .unwrap();
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The catalog of commit `rev` of a bare repository.
pub fn catalog_at(bare: &Path, rev: &str) -> CatalogDoc {
    let text = show(bare, rev, CATALOG).unwrap_or_else(|| panic!("no catalog at {rev}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("catalog at {rev} ({e}):\n{text}"))
}

/// The catalog on the GitOps branch of a bare repository.
pub fn remote_catalog(bare: &Path) -> CatalogDoc {
    let head = remote_head(bare, GITOPS_BRANCH).expect("GitOps branch exists");
    catalog_at(bare, &head)
}

/// Everything an error document says (message, hint and details), for `contains` checks
/// that do not care which field says it.
pub fn error_doc_text(doc: &ErrorDocument) -> String {
    let e = &doc.error;
    let details = e.details.as_ref().map(Value::to_string).unwrap_or_default();
    format!(
        "{} {} {}",
        e.message,
        e.hint.as_deref().unwrap_or_default(),
        details
    )
}

/// [`error_doc_text`] of a failed run's error document.
pub fn error_all(run: &Run) -> String {
    error_doc_text(&run.error())
}

/// Files changed between two commits.
pub fn changed(bare: &Path, a: &str, b: &str) -> Vec<String> {
    git(bare, &["diff", "--name-only", a, b])
        .lines()
        .map(str::to_string)
        .collect()
}

/// Extract a commit's tree into a new directory.
pub fn checkout_tree(bare: &Path, rev: &str) -> tempfile::TempDir {
    let dir = super::tempdir();
    let tar = Command::new("git")
        .arg("-C")
        .arg(bare)
        .args(["archive", "--format=tar", rev])
        .output()
        .unwrap();
    assert!(tar.status.success());
    let mut child = Command::new("tar")
        .arg("-x")
        .arg("-C")
        .arg(dir.path())
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(&tar.stdout).unwrap();
    assert!(child.wait().unwrap().success());
    dir
}

/// Base arguments of a promote run.
pub fn promote_args(repo: &Path, commit: &str, remote: &str, publish: &[&Path]) -> Vec<String> {
    let mut a = vec![
        "promote".to_string(),
        "--repo".into(),
        repo.display().to_string(),
        "--commit".into(),
        commit.into(),
        "--gitops-remote".into(),
        remote.into(),
        "--publish".into(),
    ];
    a.extend(publish.iter().map(|p| p.display().to_string()));
    a
}
