//! Helpers for `lane plan` tests: a source repository with service contexts and a
//! deploy.json, and catalogs committed to the GitOps branch the way promote would.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use lane::model::catalog::{CatalogText, ComponentIdentity, EntryStatus, EntryText};
use lane::model::plan::{Decision, Plan, PlannedService};
use serde_json::{json, Value};

use super::gitrepo::{git, TestRepo};
use super::{lane, Run};

pub const GITOPS_BRANCH: &str = "v0.1-gitops";
pub const CATALOG_PATH: &str = "deploy/artifact-catalog.v01.json";

/// The shipped lane block (v0.1) with no services.
pub fn deploy_json(services: Vec<Value>) -> Value {
    json!({
        "schemaVersion": 1,
        "lane": {
            "version": "v0.1",
            "project": "agentrun",
            "cluster": "g14",
            "sourceRepo": "git@github.com:pikasTech/agentrun.git",
            "registry": {"host": "127.0.0.1:5000", "repositoryPrefix": "agentrun", "insecure": true}
        },
        "services": services
    })
}

/// A built service whose context is `dir` and Dockerfile `dir/Dockerfile`.
pub fn built(id: &str, dir: &str) -> Value {
    json!({"id": id, "kind": "deployment",
           "build": {"context": dir, "dockerfile": format!("{dir}/Dockerfile")}})
}

/// Write `deploy/deploy.json` into the worktree.
pub fn write_deploy(repo: &TestRepo, deploy: &Value) {
    repo.write(
        "deploy/deploy.json",
        &serde_json::to_string_pretty(deploy).unwrap(),
    );
}

/// A source repository on branch `v0.1` with services `mgr` (apps/mgr), `runner`
/// (apps/runner) and `web` (apps/web), a README outside every context, one commit.
pub fn three_services() -> TestRepo {
    let repo = TestRepo::init("v0.1");
    for (dir, body) in [
        ("apps/mgr", "mgr"),
        ("apps/runner", "runner"),
        ("apps/web", "web"),
    ] {
        repo.write(
            &format!("{dir}/Dockerfile"),
            &format!("FROM scratch\nCOPY {body} /\n"),
        );
        repo.write(&format!("{dir}/src/main.txt"), &format!("{body} v1\n"));
    }
    repo.write("README.md", "top level\n");
    write_deploy(
        &repo,
        &deploy_json(vec![
            built("mgr", "apps/mgr"),
            built("runner", "apps/runner"),
            built("web", "apps/web"),
        ]),
    );
    repo.commit("initial");
    repo
}

/// Run `lane plan --repo <repo> <args>` from the repo directory.
pub fn plan(repo: &Path, args: &[&str]) -> Run {
    let mut all = vec!["plan", "--repo", repo.to_str().unwrap()];
    all.extend_from_slice(args);
    lane(repo, &all)
}

/// Decision of service `id` in a plan.
pub fn decision(plan: &Plan, id: &str) -> Decision {
    service(plan, id).decision
}

pub fn service<'a>(plan: &'a Plan, id: &str) -> &'a PlannedService {
    plan.service(id)
        .unwrap_or_else(|| panic!("no service {id} in plan {plan:#?}"))
}

/// Ids with the given decision, in plan order.
pub fn ids_with(plan: &Plan, d: Decision) -> Vec<String> {
    plan.with_decision(d).map(|s| s.id.to_string()).collect()
}

/// A digest unique to a service (what publish would have recorded).
pub fn digest_for(id: &str) -> String {
    use sha2::{Digest, Sha256};
    let h = Sha256::digest(format!("image of {id}").as_bytes());
    format!(
        "sha256:{}",
        h.iter().map(|b| format!("{b:02x}")).collect::<String>()
    )
}

/// The catalog promote writes after publishing every affected service of `plan`.
pub fn catalog_from_plan(plan: &Plan) -> CatalogText {
    let commit = &plan.source_commit.to_string();
    let services = plan
        .with_decision(Decision::Affected)
        .map(|s| {
            (
                s.id.to_string(),
                EntryText {
                    component: ComponentIdentity {
                        service: s.id.to_string(),
                        kind: s.kind,
                    },
                    image_repository: s
                        .image_repository
                        .as_ref()
                        .expect("affected has an image")
                        .to_string(),
                    tag: commit.clone(),
                    digest: digest_for(&s.id),
                    media_type: None,
                    platforms: Vec::new(),
                    status: EntryStatus::Published,
                    source_commit: commit.clone(),
                    reused_from: None,
                    fingerprint: s.fingerprint.clone(),
                    pipeline_run: None,
                    published_at: "2026-11-01T00:00:00Z".into(),
                    updated_at: "2026-11-01T00:00:00Z".into(),
                    rollback: None,
                },
            )
        })
        .collect();
    CatalogText {
        schema_version: 1,
        lane: plan.lane.clone(),
        source_repo: plan.source_repo.clone(),
        source_branch: plan.source_branch.clone(),
        gitops_branch: plan.gitops_branch.clone(),
        source_commit: commit.clone(),
        updated_at: "2026-11-01T00:00:00Z".into(),
        services,
        rollback: None,
    }
}

fn git_stdin(dir: &Path, args: &[&str], env: &[(&str, &str)], stdin: &[u8]) -> String {
    let mut cmd = Command::new("git");
    cmd.arg("-C").arg(dir).args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd
        .env("GIT_AUTHOR_NAME", "Lane Test")
        .env("GIT_AUTHOR_EMAIL", "lane-test@example.invalid")
        .env("GIT_COMMITTER_NAME", "Lane Test")
        .env("GIT_COMMITTER_EMAIL", "lane-test@example.invalid")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run git");
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Commit `files` (path → content) on `branch` of the repository at `dir` (worktree or bare)
/// without touching HEAD, the index or the worktree; the new commit's parent is the branch's
/// tip when it exists. Returns the commit.
pub fn commit_to_branch(dir: &Path, branch: &str, files: &[(&str, &str)]) -> String {
    let index = tempfile::NamedTempFile::new().unwrap();
    let index_path = index.path().to_str().unwrap().to_string();
    let env = [("GIT_INDEX_FILE", index_path.as_str())];
    let refname = format!("refs/heads/{branch}");
    let parent = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args([
            "rev-parse",
            "--verify",
            "-q",
            &format!("{refname}^{{commit}}"),
        ])
        .output()
        .unwrap();
    let parent = String::from_utf8_lossy(&parent.stdout).trim().to_string();
    std::fs::remove_file(index.path()).unwrap();
    if !parent.is_empty() {
        git_stdin(dir, &["read-tree", &parent], &env, b"");
    }
    for (path, content) in files {
        let blob = git_stdin(
            dir,
            &["hash-object", "-w", "--stdin"],
            &[],
            content.as_bytes(),
        );
        git_stdin(
            dir,
            &[
                "update-index",
                "--add",
                "--cacheinfo",
                &format!("100644,{blob},{path}"),
            ],
            &env,
            b"",
        );
    }
    let tree = git_stdin(dir, &["write-tree"], &env, b"");
    let mut args = vec!["commit-tree", tree.as_str(), "-m", "gitops"];
    if !parent.is_empty() {
        args.extend(["-p", parent.as_str()]);
    }
    let commit = git_stdin(dir, &args, &[], b"");
    git(dir, &["update-ref", &refname, &commit]);
    commit
}

/// Commit `catalog` to the lane's GitOps branch in `dir`.
pub fn commit_catalog(dir: &Path, catalog: &CatalogText) -> String {
    commit_to_branch(
        dir,
        GITOPS_BRANCH,
        &[(
            CATALOG_PATH,
            &serde_json::to_string_pretty(catalog).unwrap(),
        )],
    )
}

/// `lane plan --init` at HEAD, then the catalog promote would write, committed to the GitOps
/// branch. Returns the init plan.
pub fn initialise(repo: &Path) -> Plan {
    let r = plan(repo, &["--init"]);
    r.assert_code(0);
    let p: Plan = r.report();
    commit_catalog(repo, &catalog_from_plan(&p));
    p
}

/// Every ref and its target, HEAD, and `git status --porcelain`: what must not change.
pub fn repo_state(dir: &Path) -> (String, String, String) {
    (
        git(dir, &["for-each-ref", "--format=%(refname) %(objectname)"]),
        git(dir, &["rev-parse", "HEAD"]),
        git(dir, &["status", "--porcelain", "--ignored"]),
    )
}
