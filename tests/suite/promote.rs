//! `lane promote` against real git remotes (`file://` bare repositories and `git daemon`).

use crate::common;

use std::path::Path;

use common::gitd::{file_url, GitDaemon};
use common::gitrepo::{bare_repo, git, TestRepo};
use common::promote::*;
use common::{lane, lane_env, tools};
use lane::promote::merge::ServiceOutcome;
use lane::promote::{PromoteOutcome, PromoteReport, TipSource};
use serde_json::Value;

fn run_promote(args: &[String], extra: &[&str]) -> common::Run {
    let mut a: Vec<&str> = args.iter().map(String::as_str).collect();
    a.extend_from_slice(extra);
    lane(Path::new("/"), &a)
}

/// A source repo and an empty `file://` GitOps remote.
struct Setup {
    deploy: Value,
    src: TestRepo,
    commit: String,
    _remote_dir: tempfile::TempDir,
    remote: std::path::PathBuf,
    work: tempfile::TempDir,
}

fn setup(extra: usize) -> Setup {
    let deploy = deploy_json(extra);
    let src = source_repo(&deploy);
    let commit = src.head();
    let (dir, remote) = bare_repo();
    Setup {
        deploy,
        src,
        commit,
        _remote_dir: dir,
        remote,
        work: common::tempdir(),
    }
}

impl Setup {
    fn url(&self) -> String {
        file_url(&self.remote)
    }
    fn publish(&self, name: &str, commit: &str, base: u64) -> std::path::PathBuf {
        publish_file(
            self.work.path(),
            name,
            commit,
            &all_images(&self.deploy, base),
        )
    }
    fn promote(&self, commit: &str, publish: &Path, extra: &[&str]) -> common::Run {
        run_promote(
            &promote_args(self.src.path(), commit, &self.url(), &[publish]),
            extra,
        )
    }
}

fn validate_runtime(tree: &Path) {
    let runtime = tree.join(RUNTIME);
    let kubectl = tools::require("kubectl");
    let out = std::process::Command::new(kubectl)
        .arg("kustomize")
        .arg(&runtime)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "kubectl kustomize failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let built = tree.join("built.yaml");
    std::fs::write(&built, &out.stdout).unwrap();
    let kv = tools::require("kubernetes-validate");
    let out = std::process::Command::new(kv)
        .args(["--strict", "--quiet"])
        .arg(&built)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "kubernetes-validate --strict failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn single_promote_pushes_catalog_and_runtime_tree() {
    let s = setup(0);
    let publish = s.publish("publish.json", &s.commit, 1);
    let results = common::tempdir();
    let rc = results.path().join("commit");
    let ro = results.path().join("outcome");
    let run = s.promote(
        &s.commit,
        &publish,
        &[
            "--init",
            "--pipeline-run",
            "agentrun-v01-ci-abc",
            "--result-commit",
            rc.to_str().unwrap(),
            "--result-outcome",
            ro.to_str().unwrap(),
        ],
    );
    run.assert_code(0);
    let rep: PromoteReport = run.report();
    assert_eq!(rep.outcome, PromoteOutcome::Committed);
    assert_eq!(rep.attempts, 1);
    let head = remote_head(&s.remote, GITOPS_BRANCH).expect("branch pushed");
    assert_eq!(rep.commit.as_deref(), Some(head.as_str()));
    assert!(rep.previous_commit.is_none());
    assert_eq!(std::fs::read_to_string(&rc).unwrap(), head);
    assert_eq!(std::fs::read_to_string(&ro).unwrap(), "committed");

    let cat = remote_catalog(&s.remote);
    assert_eq!(cat.source_commit, s.commit);
    for (id, _, d) in all_images(&s.deploy, 1) {
        assert_eq!(cat.services[&id].digest, d, "{id}");
        assert_eq!(
            cat.services[&id].pipeline_run.as_deref(),
            Some("agentrun-v01-ci-abc")
        );
    }
    // The rendered manifests pin the published digests.
    let tree = checkout_tree(&s.remote, &head);
    let mut all = String::new();
    for e in walk(&tree.path().join(RUNTIME)) {
        all.push_str(&std::fs::read_to_string(e).unwrap());
    }
    for (id, _, d) in all_images(&s.deploy, 1) {
        assert!(
            all.contains(&format!("127.0.0.1:5000/agentrun/{id}@{d}")),
            "{id} not pinned by digest in the runtime tree"
        );
    }
    validate_runtime(tree.path());

    let msg = git(&s.remote, &["log", "-1", "--format=%B", &head]);
    assert!(
        msg.starts_with(&format!(
            "lane v0.1: initialise lane at {}",
            &s.commit[..12]
        )),
        "{msg}"
    );
    let trailers = git(
        &s.remote,
        &["log", "-1", "--format=%(trailers:only,unfold)", &head],
    );
    assert!(
        trailers.contains(&format!("Lane-Source-Commit: {}", s.commit)),
        "{trailers}"
    );
    assert!(
        trailers.contains("Lane-Pipeline-Run: agentrun-v01-ci-abc"),
        "{trailers}"
    );
    assert!(
        trailers.contains("Lane-Services-Published: agentrun-mgr,agentrun-runner"),
        "{trailers}"
    );
    assert!(trailers.contains("Lane: v0.1"), "{trailers}");
    git(&s.remote, &["fsck", "--strict"]);

    // A second release updates one service on top, with the first commit as parent.
    s.src.write("apps/mgr/main.go", "package main\n");
    let c2 = s.src.commit("mgr change");
    let imgs = vec![(
        "agentrun-mgr".to_string(),
        "deployment".to_string(),
        digest(99),
    )];
    let p2 = publish_file(s.work.path(), "p2.json", &c2, &imgs);
    let run = s.promote(&c2, &p2, &[]);
    run.assert_code(0);
    let rep: PromoteReport = run.report();
    assert_eq!(rep.previous_commit.as_deref(), Some(head.as_str()));
    let head2 = remote_head(&s.remote, GITOPS_BRANCH).unwrap();
    assert_eq!(git(&s.remote, &["rev-parse", &format!("{head2}^")]), head);
    let cat = remote_catalog(&s.remote);
    assert_eq!(cat.services["agentrun-mgr"].digest, digest(99));
    assert_eq!(cat.services["agentrun-runner"].digest, digest(2));
    assert_eq!(cat.source_commit, c2);
    let svc: Vec<(&str, ServiceOutcome)> = rep
        .services
        .iter()
        .map(|s| (s.service.as_str(), s.outcome))
        .collect();
    assert_eq!(svc, vec![("agentrun-mgr", ServiceOutcome::Published)]);
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn identical_rerun_is_a_noop() {
    let s = setup(0);
    let publish = s.publish("publish.json", &s.commit, 1);
    s.promote(&s.commit, &publish, &["--init"]).assert_code(0);
    let head = remote_head(&s.remote, GITOPS_BRANCH).unwrap();
    let results = common::tempdir();
    let ro = results.path().join("outcome");
    let run = s.promote(
        &s.commit,
        &publish,
        &[
            "--pipeline-run",
            "rerun-2",
            "--result-outcome",
            ro.to_str().unwrap(),
        ],
    );
    run.assert_code(0);
    let rep: PromoteReport = run.report();
    assert_eq!(rep.outcome, PromoteOutcome::Noop, "{rep:?}");
    assert_eq!(rep.commit.as_deref(), Some(head.as_str()));
    assert_eq!(remote_head(&s.remote, GITOPS_BRANCH).unwrap(), head);
    assert_eq!(std::fs::read_to_string(&ro).unwrap(), "noop");
    for svc in &rep.services {
        assert_eq!(svc.outcome, ServiceOutcome::Unchanged);
    }
}

#[test]
fn init_is_required_and_allowed_once() {
    let s = setup(0);
    let publish = s.publish("publish.json", &s.commit, 1);
    let run = s.promote(&s.commit, &publish, &[]);
    run.assert_code(1);
    let e = run.error().error;
    assert!(e.message.contains("no catalog"), "{e:?}");
    assert!(e.hint.as_deref().unwrap().contains("--init"), "{e:?}");
    assert_eq!(
        remote_head(&s.remote, GITOPS_BRANCH),
        None,
        "nothing pushed"
    );

    s.promote(&s.commit, &publish, &["--init"]).assert_code(0);
    let head = remote_head(&s.remote, GITOPS_BRANCH).unwrap();
    let run = s.promote(&s.commit, &publish, &["--init"]);
    run.assert_code(1);
    assert!(run.error().error.message.contains("already has a catalog"));
    assert_eq!(remote_head(&s.remote, GITOPS_BRANCH).unwrap(), head);
}

#[test]
fn source_branch_is_never_written() {
    // Source and GitOps branches live in the same remote, as in the shipped lane.
    let s = setup(0);
    s.src.git(&["remote", "add", "origin", &s.url()]);
    s.src.git(&["push", "-q", "origin", "v0.1"]);
    let before_ref = remote_head(&s.remote, "v0.1").unwrap();
    let before_tree = git(&s.remote, &["rev-parse", "v0.1^{tree}"]);
    let publish = s.publish("publish.json", &s.commit, 1);
    s.promote(&s.commit, &publish, &["--init"]).assert_code(0);
    s.src.write("x.txt", "x");
    let c2 = s.src.commit("next");
    s.src.git(&["push", "-q", "origin", "v0.1"]);
    let before2 = remote_head(&s.remote, "v0.1").unwrap();
    let p2 = s.publish("p2.json", &c2, 10);
    s.promote(&c2, &p2, &[]).assert_code(0);
    assert_eq!(remote_head(&s.remote, "v0.1").unwrap(), before2);
    assert_eq!(git(&s.remote, &["rev-parse", "v0.1^1"]), before_ref);
    assert_eq!(git(&s.remote, &["rev-parse", "v0.1^1^{tree}"]), before_tree);
    // The source branch's tree never gets the catalog or the runtime tree.
    assert!(show(&s.remote, "v0.1", CATALOG).is_none());
    assert!(show(&s.remote, "v0.1", RUNTIME).is_none());
    // The local source branch and worktree are untouched too.
    assert_eq!(s.src.head(), c2);
    assert_eq!(s.src.git(&["status", "--porcelain"]), "");

    // A lane whose GitOps branch is the source branch is refused before anything is written
    // (by the deploy.json check, and again by promote itself).
    let mut d = s.deploy.clone();
    d["lane"]["names"] = serde_json::json!({"gitopsBranch": "v0.1"});
    let f = s.work.path().join("same.json");
    std::fs::write(&f, serde_json::to_string(&d).unwrap()).unwrap();
    let run = s.promote(&c2, &p2, &["--deploy", f.to_str().unwrap()]);
    run.assert_code(1);
    let msg = run.error().error.message;
    assert!(msg.contains("source branch"), "{msg}");
    assert_eq!(remote_head(&s.remote, "v0.1").unwrap(), before2);
}

#[test]
fn other_gitops_paths_are_untouched() {
    let s = setup(0);
    // The GitOps branch already carries unrelated content.
    let g = TestRepo::init(GITOPS_BRANCH);
    g.write("README.md", "# GitOps\n")
        .write("docs/notes.md", "notes\n")
        .write("deploy/other/app.yaml", "kind: Other\n")
        .write(&format!("{RUNTIME}/stale.yaml"), "stale: true\n");
    g.commit("gitops: seed");
    g.git(&[
        "push",
        "-q",
        &s.url(),
        &format!("{GITOPS_BRANCH}:{GITOPS_BRANCH}"),
    ]);
    let old = remote_head(&s.remote, GITOPS_BRANCH).unwrap();
    let publish = s.publish("publish.json", &s.commit, 1);
    s.promote(&s.commit, &publish, &["--init"]).assert_code(0);
    let new = remote_head(&s.remote, GITOPS_BRANCH).unwrap();
    let ch = changed(&s.remote, &old, &new);
    assert!(!ch.is_empty());
    for p in &ch {
        assert!(
            p == CATALOG || p.starts_with(&format!("{RUNTIME}/")),
            "changed outside: {p}"
        );
    }
    assert!(
        ch.contains(&format!("{RUNTIME}/stale.yaml")),
        "runtime dir replaced whole"
    );
    for p in ["README.md", "docs/notes.md", "deploy/other/app.yaml"] {
        assert_eq!(
            git(&s.remote, &["rev-parse", &format!("{old}:{p}")]),
            git(&s.remote, &["rev-parse", &format!("{new}:{p}")]),
            "{p}"
        );
    }
}

#[test]
fn older_commit_after_newer_is_superseded() {
    let s = setup(0);
    let p1 = s.publish("p1.json", &s.commit, 1);
    s.promote(&s.commit, &p1, &["--init"]).assert_code(0);
    let old_commit = s.commit.clone();
    s.src.write("apps/mgr/x", "1");
    let newer = s.src.commit("newer");
    let pn = s.publish("pn.json", &newer, 20);
    s.promote(&newer, &pn, &[]).assert_code(0);
    let head = remote_head(&s.remote, GITOPS_BRANCH).unwrap();
    // The older commit's run finishes late with other digests.
    let po = s.publish("po.json", &old_commit, 40);
    let run = s.promote(&old_commit, &po, &[]);
    run.assert_code(0);
    let rep: PromoteReport = run.report();
    assert_eq!(rep.outcome, PromoteOutcome::Superseded, "{rep:?}");
    assert_eq!(rep.intent_commit, newer);
    for svc in &rep.services {
        assert_eq!(svc.outcome, ServiceOutcome::Superseded, "{svc:?}");
        assert_eq!(svc.source_commit.as_deref(), Some(newer.as_str()));
    }
    assert_eq!(remote_head(&s.remote, GITOPS_BRANCH).unwrap(), head);
    let cat = remote_catalog(&s.remote);
    assert_eq!(cat.source_commit, newer);
    assert_eq!(cat.services["agentrun-mgr"].digest, digest(20));
}

#[test]
fn works_over_git_daemon() {
    let d = GitDaemon::start();
    d.bare("gitops.git");
    let s = setup(0);
    let publish = s.publish("publish.json", &s.commit, 1);
    let run = run_promote(
        &promote_args(s.src.path(), &s.commit, &d.url("gitops.git"), &[&publish]),
        &["--init"],
    );
    run.assert_code(0);
    let head = remote_head(&d.path("gitops.git"), GITOPS_BRANCH).unwrap();
    let rep: PromoteReport = run.report();
    assert_eq!(rep.commit.as_deref(), Some(head.as_str()));
    git(&d.path("gitops.git"), &["fsck", "--strict"]);
}

#[test]
fn secrets_never_in_output() {
    let s = setup(0);
    let token = "ghp_Zx9Qw8Er7Ty6Ui5Op4As3Df2Gh1Jk0LzXcVb";
    let creds = common::tempdir();
    std::fs::write(
        creds.path().join(".git-credentials"),
        format!("https://lane-bot:{token}@127.0.0.1\n"),
    )
    .unwrap();
    let publish = s.publish("publish.json", &s.commit, 1);
    let basic = creds.path().to_str().unwrap();
    // Success through the credential workspace.
    let run = s.promote(&s.commit, &publish, &["--init", "--basic-auth", basic]);
    run.assert_code(0);
    assert!(!run.stdout.contains(token) && !run.stderr.contains(token));
    // Failure with credentials in the remote URL: neither the token nor the URL's password
    // appears.
    let url = format!("http://lane-bot:{token}@127.0.0.1:9/gitops.git");
    let args = promote_args(s.src.path(), &s.commit, &url, &[&publish]);
    let mut a: Vec<&str> = args.iter().map(String::as_str).collect();
    a.extend(["--basic-auth", basic]);
    let run = lane_env(Path::new("/"), &a, &[("GIT_TRACE", "0")]);
    assert_eq!(run.code, 3, "{}\n{}", run.stdout, run.stderr);
    assert!(!run.stdout.contains(token), "{}", run.stdout);
    assert!(!run.stderr.contains(token), "{}", run.stderr);
    assert!(!run.stdout.contains("lane-bot:"), "{}", run.stdout);
}

#[test]
fn publish_results_for_another_commit_are_rejected() {
    let s = setup(0);
    s.src.write("y", "y");
    let other = s.src.commit("other");
    let publish = s.publish("publish.json", &other, 1);
    let run = s.promote(&s.commit, &publish, &["--init"]);
    run.assert_code(1);
    let msg = run.error().error.message;
    assert!(
        msg.contains("sourceCommit") && msg.contains("publish.json"),
        "{msg}"
    );
    assert_eq!(remote_head(&s.remote, GITOPS_BRANCH), None);
}

/// What prepare-source leaves in the source workspace: the GitOps branch fetched into
/// `refs/remotes/origin/<branch>`.
fn fetch_into_workspace(s: &Setup) -> String {
    s.src.git(&[
        "fetch",
        "-q",
        &s.url(),
        &format!("+refs/heads/{GITOPS_BRANCH}:refs/remotes/origin/{GITOPS_BRANCH}"),
    ]);
    s.src
        .git(&["rev-parse", &format!("refs/remotes/origin/{GITOPS_BRANCH}")])
        .trim()
        .to_string()
}

fn one_image(s: &Setup, name: &str, service: &str, n: u64) -> std::path::PathBuf {
    let (id, kind) = services(&s.deploy)
        .into_iter()
        .find(|(id, _)| id == service)
        .unwrap();
    publish_file(s.work.path(), name, &s.commit, &[(id, kind, digest(n))])
}

#[test]
fn builds_on_the_tip_the_workspace_holds_without_fetching() {
    let s = setup(0);
    let first = s.promote(&s.commit, &s.publish("p1.json", &s.commit, 10), &["--init"]);
    first.assert_code(0);
    assert_eq!(
        first.report::<PromoteReport>().tip_source,
        TipSource::Remote,
        "an --init always fetches"
    );
    let tip = fetch_into_workspace(&s);

    let run = s.promote(&s.commit, &s.publish("p2.json", &s.commit, 20), &[]);
    run.assert_code(0);
    let rep: PromoteReport = run.report();
    assert_eq!(rep.outcome, PromoteOutcome::Committed, "{rep:?}");
    assert_eq!(rep.tip_source, TipSource::Workspace, "{rep:?}");
    assert_eq!(rep.attempts, 1);
    assert_eq!(rep.previous_commit.as_deref(), Some(tip.as_str()));
    let head = remote_head(&s.remote, GITOPS_BRANCH).unwrap();
    assert_eq!(rep.commit.as_deref(), Some(head.as_str()));
    assert_eq!(
        remote_catalog(&s.remote).services["agentrun-mgr"].digest,
        digest(20)
    );
    git(&s.remote, &["fsck", "--strict"]);

    // --fetch-first ignores the workspace's tip.
    let run = s.promote(
        &s.commit,
        &s.publish("p3.json", &s.commit, 30),
        &["--fetch-first"],
    );
    run.assert_code(0);
    let rep: PromoteReport = run.report();
    assert_eq!(rep.tip_source, TipSource::Remote);
    assert_eq!(rep.previous_commit.as_deref(), Some(head.as_str()));
}

#[test]
fn a_stale_workspace_tip_is_refused_by_the_lease_and_redone_on_the_fetched_tip() {
    let s = setup(0);
    s.promote(&s.commit, &s.publish("p1.json", &s.commit, 10), &["--init"])
        .assert_code(0);
    let stale = fetch_into_workspace(&s);
    // Another run lands a new runner image after the workspace was fetched.
    let other = s.promote(
        &s.commit,
        &one_image(&s, "runner.json", "agentrun-runner", 77),
        &["--fetch-first"],
    );
    other.assert_code(0);
    let moved = remote_head(&s.remote, GITOPS_BRANCH).unwrap();
    assert_ne!(moved, stale);

    // This run only has the manager: built first on the stale tip, refused by the lease,
    // then redone on the fetched tip, keeping the other run's entry.
    let run = s.promote(
        &s.commit,
        &one_image(&s, "mgr.json", "agentrun-mgr", 88),
        &[],
    );
    run.assert_code(0);
    let rep: PromoteReport = run.report();
    assert_eq!(rep.outcome, PromoteOutcome::Committed, "{rep:?}");
    assert_eq!(rep.attempts, 2, "{rep:?}");
    assert_eq!(rep.tip_source, TipSource::Remote, "{rep:?}");
    assert_eq!(rep.previous_commit.as_deref(), Some(moved.as_str()));
    let cat = remote_catalog(&s.remote);
    assert_eq!(cat.services["agentrun-runner"].digest, digest(77));
    assert_eq!(cat.services["agentrun-mgr"].digest, digest(88));
    let head = remote_head(&s.remote, GITOPS_BRANCH).unwrap();
    assert_eq!(
        git(&s.remote, &["rev-parse", &format!("{head}^")]).trim(),
        moved
    );
}

#[test]
fn a_noop_on_a_stale_workspace_tip_is_judged_again_on_the_fetched_tip() {
    let s = setup(0);
    let p1 = s.publish("p1.json", &s.commit, 10);
    s.promote(&s.commit, &p1, &["--init"]).assert_code(0);
    fetch_into_workspace(&s);
    // Another run replaces the manager's image after the workspace was fetched.
    s.promote(
        &s.commit,
        &one_image(&s, "mgr.json", "agentrun-mgr", 55),
        &["--fetch-first"],
    )
    .assert_code(0);
    let moved = remote_head(&s.remote, GITOPS_BRANCH).unwrap();

    // Against the workspace's (stale) tip p1 changes nothing; against the real tip it does.
    let run = s.promote(&s.commit, &p1, &[]);
    run.assert_code(0);
    let rep: PromoteReport = run.report();
    assert_eq!(rep.outcome, PromoteOutcome::Committed, "{rep:?}");
    assert_eq!(rep.previous_commit.as_deref(), Some(moved.as_str()));
    assert_eq!(rep.tip_source, TipSource::Remote);
    assert_eq!(
        remote_catalog(&s.remote).services["agentrun-mgr"].digest,
        digest(10)
    );
}

#[test]
fn a_shallow_workspace_tip_is_pushed_on_and_a_bogus_one_is_ignored() {
    let s = setup(0);
    s.promote(&s.commit, &s.publish("p1.json", &s.commit, 10), &["--init"])
        .assert_code(0);
    let tip = remote_head(&s.remote, GITOPS_BRANCH).unwrap();
    // prepare-source with a depth-1 fetch of the GitOps branch: the workspace is shallow.
    s.src.git(&[
        "fetch",
        "-q",
        "--depth=1",
        &s.url(),
        &format!("+refs/heads/{GITOPS_BRANCH}:refs/remotes/origin/{GITOPS_BRANCH}"),
    ]);
    assert!(s.src.path().join(".git/shallow").is_file());
    let run = s.promote(&s.commit, &s.publish("p2.json", &s.commit, 20), &[]);
    run.assert_code(0);
    let rep: PromoteReport = run.report();
    assert_eq!(rep.tip_source, TipSource::Workspace, "{rep:?}");
    assert_eq!(rep.previous_commit.as_deref(), Some(tip.as_str()));
    git(&s.remote, &["fsck", "--strict"]);

    // A workspace ref that is no GitOps commit at all (here: the source commit, which has no
    // catalog) is not conclusive: the fetched tip decides, and the release lands on it.
    let head = remote_head(&s.remote, GITOPS_BRANCH).unwrap();
    s.src.git(&[
        "update-ref",
        &format!("refs/lane/gitops/{GITOPS_BRANCH}"),
        &s.commit,
    ]);
    let run = s.promote(&s.commit, &s.publish("p3.json", &s.commit, 30), &[]);
    run.assert_code(0);
    let rep: PromoteReport = run.report();
    assert_eq!(rep.outcome, PromoteOutcome::Committed, "{rep:?}");
    assert_eq!(rep.tip_source, TipSource::Remote, "{rep:?}");
    assert_eq!(rep.previous_commit.as_deref(), Some(head.as_str()));
    assert_eq!(
        remote_catalog(&s.remote).services["agentrun-mgr"].digest,
        digest(30)
    );
}

// --- promotion safety (deploy intent never rolls back; refusals and symbolic refs) ----------

/// The mgr Deployment's replicas in the GitOps tree at the remote's tip.
fn tree_replicas(remote: &Path) -> u64 {
    let head = remote_head(remote, GITOPS_BRANCH).unwrap();
    let text = show(
        remote,
        &head,
        &format!("{RUNTIME}/deployment-agentrun-mgr.yaml"),
    )
    .expect("mgr Deployment in the tree");
    let doc: Value = serde_saphyr::from_str(&text).unwrap();
    doc["spec"]["replicas"].as_u64().unwrap()
}

fn tree_has(remote: &Path, file: &str) -> bool {
    let head = remote_head(remote, GITOPS_BRANCH).unwrap();
    show(remote, &head, &format!("{RUNTIME}/{file}")).is_some()
}

/// Commit B on top of A: mgr replicas 1 → 3 and a new service `svc-2` (its build context
/// committed too). Returns (A, B, B's deploy.json).
fn raise_intent(s: &Setup) -> (String, String, Value) {
    let a = s.commit.clone();
    let mut d = deploy_json(1);
    d["services"][0]["replicas"] = serde_json::json!(3);
    s.src.write(
        "deploy/deploy.json",
        &serde_json::to_string_pretty(&d).unwrap(),
    );
    s.src.write("apps/svc-2/Dockerfile", "FROM scratch\n");
    let b = s.src.commit("raise mgr replicas, add svc-2");
    (a, b, d)
}

fn publish_for(
    s: &Setup,
    name: &str,
    commit: &str,
    deploy: &Value,
    base: u64,
) -> std::path::PathBuf {
    publish_file(s.work.path(), name, commit, &all_images(deploy, base))
}

#[test]
fn a_late_older_run_never_rolls_back_the_newer_deploy_intent() {
    let s = setup(0);
    let pa0 = s.publish("a0.json", &s.commit, 1);
    s.promote(&s.commit, &pa0, &["--init"]).assert_code(0);
    let (a, b, deploy_b) = raise_intent(&s);
    let pb = publish_for(&s, "b.json", &b, &deploy_b, 30);
    s.promote(&b, &pb, &[]).assert_code(0);
    assert_eq!(tree_replicas(&s.remote), 3);
    assert!(tree_has(&s.remote, "deployment-svc-2.yaml"));
    let head = remote_head(&s.remote, GITOPS_BRANCH).unwrap();

    // A's run finishes late with new digests: everything superseded, nothing committed.
    let pa = s.publish("a.json", &a, 50);
    let run = s.promote(&a, &pa, &[]);
    run.assert_code(0);
    let rep: PromoteReport = run.report();
    assert_eq!(rep.outcome, PromoteOutcome::Superseded, "{rep:?}");
    assert_eq!(rep.intent_commit, b);
    assert_eq!(remote_head(&s.remote, GITOPS_BRANCH).unwrap(), head);
    assert_eq!(tree_replicas(&s.remote), 3);
    assert!(tree_has(&s.remote, "deployment-svc-2.yaml"));
    let cat = remote_catalog(&s.remote);
    assert_eq!(cat.source_commit, b);
    assert!(cat.services.contains_key("svc-2"));
    // verify renders the recorded commit's deploy intent: the tree has no drift.
    let run = lane(
        s.src.path(),
        &[
            "verify",
            "--only",
            "gitops",
            "--commit",
            &b,
            "--gitops-remote",
            &s.url(),
        ],
    );
    run.assert_code(0);
}

#[test]
fn a_late_older_run_does_not_bring_back_a_removed_service() {
    // A declares svc-2; B (a descendant) removes it.
    let s = setup(1);
    let pa0 = s.publish("a0.json", &s.commit, 1);
    s.promote(&s.commit, &pa0, &["--init"]).assert_code(0);
    assert!(tree_has(&s.remote, "deployment-svc-2.yaml"));
    let a = s.commit.clone();
    let d = deploy_json(0);
    s.src.write(
        "deploy/deploy.json",
        &serde_json::to_string_pretty(&d).unwrap(),
    );
    let b = s.src.commit("remove svc-2");
    let pb = publish_for(&s, "b.json", &b, &d, 30);
    s.promote(&b, &pb, &[]).assert_code(0);
    assert!(!tree_has(&s.remote, "deployment-svc-2.yaml"));
    // A's run (with an image of svc-2) finishes late.
    let pa = s.publish("a.json", &a, 60);
    let run = s.promote(&a, &pa, &[]);
    run.assert_code(0);
    assert_eq!(
        run.report::<PromoteReport>().outcome,
        PromoteOutcome::Superseded
    );
    assert!(!tree_has(&s.remote, "deployment-svc-2.yaml"));
    assert!(!remote_catalog(&s.remote).services.contains_key("svc-2"));
}

#[test]
fn in_order_runs_take_the_newer_intent() {
    let s = setup(0);
    let pa0 = s.publish("a0.json", &s.commit, 1);
    s.promote(&s.commit, &pa0, &["--init"]).assert_code(0);
    assert_eq!(tree_replicas(&s.remote), 1);
    let (_a, b, deploy_b) = raise_intent(&s);
    let pb = publish_for(&s, "b.json", &b, &deploy_b, 30);
    let run = s.promote(&b, &pb, &[]);
    run.assert_code(0);
    assert_eq!(run.report::<PromoteReport>().intent_commit, b);
    assert_eq!(tree_replicas(&s.remote), 3);
}

#[test]
fn concurrent_races_of_an_older_and_a_newer_run_end_with_the_newer_intent() {
    let d = GitDaemon::start();
    for round in 0..4 {
        let bare = d.bare(&format!("gitops-{round}.git"));
        let url = d.url(&format!("gitops-{round}.git"));
        // A declares svc-2; B raises mgr's replicas, removes svc-2 and adds svc-3.
        let s = setup(1);
        let init = s.publish("a0.json", &s.commit, 1);
        let mut args = promote_args(s.src.path(), &s.commit, &url, &[&init]);
        args.push("--init".into());
        run_promote(&args, &[]).assert_code(0);
        let a = s.commit.clone();
        let mut deploy_b = deploy_json(2);
        deploy_b["services"][0]["replicas"] = serde_json::json!(3);
        deploy_b["services"]
            .as_array_mut()
            .unwrap()
            .retain(|svc| svc["id"] != "svc-2");
        s.src.write(
            "deploy/deploy.json",
            &serde_json::to_string_pretty(&deploy_b).unwrap(),
        );
        s.src.write("apps/svc-3/Dockerfile", "FROM scratch\n");
        let b = s.src.commit("raise mgr replicas, remove svc-2, add svc-3");
        let pa = s.publish("a.json", &a, 40);
        let pb = publish_for(&s, "b.json", &b, &deploy_b, 70);
        let spawn = |commit: &str, p: &Path| {
            let mut args = promote_args(s.src.path(), commit, &url, &[p]);
            args.extend(["--max-attempts".into(), "20".into()]);
            std::process::Command::new(common::lane_bin())
                .args(&args)
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        };
        // Alternate who starts first.
        let (first, second) = if round % 2 == 0 {
            (spawn(&a, &pa), spawn(&b, &pb))
        } else {
            (spawn(&b, &pb), spawn(&a, &pa))
        };
        for c in [first, second] {
            let out = c.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        assert_eq!(tree_replicas(&bare), 3, "round {round}");
        assert!(tree_has(&bare, "deployment-svc-3.yaml"), "round {round}");
        assert!(!tree_has(&bare, "deployment-svc-2.yaml"), "round {round}");
        assert!(
            !remote_catalog(&bare).services.contains_key("svc-2"),
            "round {round}"
        );
        let cat = remote_catalog(&bare);
        assert_eq!(cat.source_commit, b, "round {round}");
        assert_eq!(
            cat.services["agentrun-mgr"].digest,
            digest(70),
            "round {round}: B's image wins"
        );
    }
}

#[test]
fn a_diverged_source_commit_is_refused_unless_allowed() {
    let s = setup(0);
    let p0 = s.publish("p0.json", &s.commit, 1);
    s.promote(&s.commit, &p0, &["--init"]).assert_code(0);
    let base = s.commit.clone();
    s.src.write("apps/mgr/x", "1");
    let b = s.src.commit("b");
    let pb = s.publish("pb.json", &b, 10);
    s.promote(&b, &pb, &[]).assert_code(0);
    let head = remote_head(&s.remote, GITOPS_BRANCH).unwrap();
    // C: a sibling of B (the branch was force-pushed to another history).
    s.src.git(&["checkout", "-q", "-b", "rewritten", &base]);
    s.src.write("apps/mgr/y", "2");
    let c = s.src.commit("c");
    let pc = s.publish("pc.json", &c, 20);
    let run = s.promote(&c, &pc, &[]);
    run.assert_code(1);
    let e = run.error().error;
    assert!(e.message.contains("neither an ancestor"), "{e:?}");
    assert!(e.hint.as_deref().unwrap().contains("--allow-diverged"));
    assert_eq!(remote_head(&s.remote, GITOPS_BRANCH).unwrap(), head);
    let run = s.promote(&c, &pc, &["--allow-diverged"]);
    run.assert_code(0);
    assert_eq!(remote_catalog(&s.remote).source_commit, c);
}

#[test]
fn a_symbolic_gitops_ref_to_the_source_branch_is_never_written_through() {
    let d = GitDaemon::start();
    for over_daemon in [false, true] {
        let s = setup(0);
        let (bare, url) = if over_daemon {
            let name = "same.git";
            let _ = std::fs::remove_dir_all(d.path(name));
            (d.bare(name), d.url(name))
        } else {
            (s.remote.clone(), s.url())
        };
        s.src.git(&["push", "-q", &url, "v0.1"]);
        git(
            &bare,
            &[
                "symbolic-ref",
                &format!("refs/heads/{GITOPS_BRANCH}"),
                "refs/heads/v0.1",
            ],
        );
        let before = remote_head(&bare, "v0.1").unwrap();
        let p = s.publish("p.json", &s.commit, 1);
        let args = promote_args(s.src.path(), &s.commit, &url, &[&p]);
        let run = run_promote(&args, &["--init"]);
        run.assert_code(1);
        let msg = run.error().error.message;
        assert!(msg.contains("symbolic ref"), "{msg}");
        assert_eq!(remote_head(&bare, "v0.1").unwrap(), before);
        // Without --init the missing catalog stops it too, before any push.
        run_promote(&args, &[]).assert_code(1);
        assert_eq!(remote_head(&bare, "v0.1").unwrap(), before);

        // A plain GitOps ref made from the source branch's tip is refused on --init too.
        git(
            &bare,
            &[
                "symbolic-ref",
                "--delete",
                &format!("refs/heads/{GITOPS_BRANCH}"),
            ],
        );
        git(
            &bare,
            &[
                "update-ref",
                &format!("refs/heads/{GITOPS_BRANCH}"),
                &before,
            ],
        );
        let run = run_promote(&args, &["--init"]);
        run.assert_code(1);
        let msg = run.error().error.message;
        assert!(msg.contains("source history"), "{msg}");
        assert_eq!(remote_head(&bare, GITOPS_BRANCH).unwrap(), before);
    }
}

fn install_hook(bare: &Path, name: &str, body: &str) {
    let hook = bare.join("hooks").join(name);
    std::fs::create_dir_all(hook.parent().unwrap()).unwrap();
    std::fs::write(&hook, format!("#!/bin/sh\n{body}\n")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn a_refusal_that_looks_like_a_race_stops_at_once_with_the_servers_message() {
    for message in [
        "hook: non-fast-forward updates are not allowed on this branch",
        "error: cannot lock ref 'refs/heads/v0.1-gitops': Unable to create 'x.lock': Permission denied",
    ] {
        let s = setup(0);
        let p0 = s.publish("p0.json", &s.commit, 1);
        s.promote(&s.commit, &p0, &["--init"]).assert_code(0);
        let head = remote_head(&s.remote, GITOPS_BRANCH).unwrap();
        install_hook(&s.remote, "pre-receive", &format!("echo \"{message}\" >&2\nexit 1"));
        s.src.write("apps/mgr/x", "1");
        let b = s.src.commit("b");
        let pb = s.publish("pb.json", &b, 10);
        let run = s.promote(&b, &pb, &["--fetch-first"]);
        run.assert_code(3);
        let text = error_all(&run);
        assert!(text.contains("refused"), "{text}");
        assert!(!text.contains("another run moved"), "{text}");
        assert!(
            run.stderr.matches("retrying").count() == 0,
            "a refusal is not retried: {}",
            run.stderr
        );
        assert!(text.contains(message.split(':').next().unwrap()), "server message shown: {text}");
        assert_eq!(remote_head(&s.remote, GITOPS_BRANCH).unwrap(), head);
    }
}

#[test]
fn max_attempts_counts_pushes() {
    // A hook that refuses with a race-shaped message while moving the branch each time: every
    // push is a genuine race, so exactly N pushes are made.
    let s = setup(0);
    let p0 = s.publish("p0.json", &s.commit, 1);
    s.promote(&s.commit, &p0, &["--init"]).assert_code(0);
    let head = remote_head(&s.remote, GITOPS_BRANCH).unwrap();
    let counter = s.work.path().join("pushes");
    // Commits for the hook to move the branch to (a hook cannot write objects: they are
    // quarantined until it accepts), one per push.
    let mut bumps = Vec::new();
    let mut parent = head.clone();
    for i in 0..5 {
        let tree = git(&s.remote, &["rev-parse", &format!("{head}^{{tree}}")]);
        parent = git(
            &s.remote,
            &[
                "commit-tree",
                "-p",
                &parent,
                "-m",
                &format!("bump {i}"),
                &tree,
            ],
        );
        bumps.push(parent.clone());
    }
    let queue = s.work.path().join("bumps");
    std::fs::write(&queue, bumps.join("\n") + "\n").unwrap();
    install_hook(
        &s.remote,
        "pre-receive",
        &format!(
            "echo x >> {c}\nn=$(wc -l < {c})\nsed -n \"${{n}}p\" {q} > refs/heads/{GITOPS_BRANCH}\necho 'error: failed to update ref: stale info' >&2\nexit 1",
            c = counter.display(),
            q = queue.display()
        ),
    );
    s.src.write("apps/mgr/x", "1");
    let b = s.src.commit("b");
    let pb = s.publish("pb.json", &b, 10);
    let run = s.promote(&b, &pb, &["--max-attempts", "3"]);
    run.assert_code(3);
    assert!(
        run.error().error.message.contains("3 attempts"),
        "{}",
        run.stdout
    );
    let pushes = std::fs::read_to_string(&counter).unwrap().lines().count();
    assert_eq!(pushes, 3);
}

#[test]
fn a_push_that_landed_but_lost_its_answer_is_committed() {
    let s = setup(0);
    let p0 = s.publish("p0.json", &s.commit, 1);
    s.promote(&s.commit, &p0, &["--init"]).assert_code(0);
    // The ref is updated, then receive-pack dies before it can answer.
    install_hook(&s.remote, "post-update", "kill -9 $PPID");
    s.src.write("apps/mgr/x", "1");
    let b = s.src.commit("b");
    let pb = s.publish("pb.json", &b, 10);
    let run = s.promote(&b, &pb, &["--fetch-first"]);
    run.assert_code(0);
    let rep: PromoteReport = run.report();
    assert_eq!(rep.outcome, PromoteOutcome::Committed, "{rep:?}");
    let head = remote_head(&s.remote, GITOPS_BRANCH).unwrap();
    assert_eq!(rep.commit.as_deref(), Some(head.as_str()));
    assert_eq!(remote_catalog(&s.remote).source_commit, b);
}

#[test]
fn stale_scratch_repositories_are_swept() {
    let s = setup(0);
    let tmp = common::tempdir();
    let owned = tmp.path().join("lane-promote");
    // A run that was SIGKILLed: its pid is gone.
    let stale = owned.join("999999999-1.git");
    std::fs::create_dir_all(stale.join("objects")).unwrap();
    let p0 = s.publish("p0.json", &s.commit, 1);
    let args = promote_args(s.src.path(), &s.commit, &s.url(), &[&p0]);
    let mut a: Vec<&str> = args.iter().map(String::as_str).collect();
    a.push("--init");
    let tmp_s = tmp.path().display().to_string();
    lane_env(Path::new("/"), &a, &[("TMPDIR", &tmp_s)]).assert_code(0);
    assert!(!stale.exists(), "the stale scratch repository was swept");
    assert!(!owned.exists(), "nothing left: {}", owned.display());
}

#[test]
fn a_catalog_path_holding_a_directory_or_a_symlink_is_reported_as_such() {
    for kind in ["directory", "symlink"] {
        let s = setup(0);
        // A GitOps branch whose catalog path is a directory (or a symlink).
        let work = common::tempdir();
        let w = work.path();
        git(w, &["init", "-q", "-b", GITOPS_BRANCH]);
        git(w, &["config", "user.email", "t@t"]);
        git(w, &["config", "user.name", "t"]);
        let cat = w.join(CATALOG);
        std::fs::create_dir_all(cat.parent().unwrap()).unwrap();
        if kind == "directory" {
            std::fs::create_dir_all(&cat).unwrap();
            std::fs::write(cat.join("x"), "x").unwrap();
        } else {
            std::os::unix::fs::symlink("elsewhere.json", &cat).unwrap();
        }
        git(w, &["add", "-A"]);
        git(w, &["commit", "-q", "-m", "odd"]);
        git(w, &["push", "-q", &s.url(), GITOPS_BRANCH]);
        let head = remote_head(&s.remote, GITOPS_BRANCH).unwrap();
        let p = s.publish("p.json", &s.commit, 1);
        for extra in [&[][..], &["--init"][..]] {
            let run = s.promote(&s.commit, &p, extra);
            run.assert_code(1);
            let msg = error_all(&run);
            assert!(msg.contains(kind), "{kind} {extra:?}: {msg}");
            assert!(!msg.contains("no catalog"), "{msg}");
            assert_eq!(remote_head(&s.remote, GITOPS_BRANCH).unwrap(), head);
        }
    }
}
