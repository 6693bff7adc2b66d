//! `lane promote` against real git remotes (`file://` bare repositories and `git daemon`).

mod common;

use std::path::Path;

use common::gitd::{file_url, GitDaemon};
use common::gitrepo::{bare_repo, git, TestRepo};
use common::promote::*;
use common::{lane, lane_env, tools};
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
    let doc = run.json();
    assert_eq!(doc["outcome"], "committed");
    assert_eq!(doc["attempts"], 1);
    let head = remote_head(&s.remote, GITOPS_BRANCH).expect("branch pushed");
    assert_eq!(doc["commit"], head.as_str());
    assert!(doc["previousCommit"].is_null());
    assert_eq!(std::fs::read_to_string(&rc).unwrap(), head);
    assert_eq!(std::fs::read_to_string(&ro).unwrap(), "committed");

    let cat = remote_catalog(&s.remote);
    assert_eq!(cat["sourceCommit"], s.commit.as_str());
    for (id, _, d) in all_images(&s.deploy, 1) {
        assert_eq!(cat["services"][&id]["digest"], d.as_str(), "{id}");
        assert_eq!(cat["services"][&id]["pipelineRun"], "agentrun-v01-ci-abc");
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
    let doc = run.json();
    assert_eq!(doc["previousCommit"], head.as_str());
    let head2 = remote_head(&s.remote, GITOPS_BRANCH).unwrap();
    assert_eq!(git(&s.remote, &["rev-parse", &format!("{head2}^")]), head);
    let cat = remote_catalog(&s.remote);
    assert_eq!(
        cat["services"]["agentrun-mgr"]["digest"],
        digest(99).as_str()
    );
    assert_eq!(
        cat["services"]["agentrun-runner"]["digest"],
        digest(2).as_str()
    );
    assert_eq!(cat["sourceCommit"], c2.as_str());
    let svc: Vec<(String, String)> = doc["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["service"].as_str().unwrap().into(),
                s["outcome"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(svc, vec![("agentrun-mgr".into(), "published".into())]);
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
    let doc = run.json();
    assert_eq!(doc["outcome"], "noop", "{doc}");
    assert_eq!(doc["commit"], head.as_str());
    assert_eq!(remote_head(&s.remote, GITOPS_BRANCH).unwrap(), head);
    assert_eq!(std::fs::read_to_string(&ro).unwrap(), "noop");
    for svc in doc["services"].as_array().unwrap() {
        assert_eq!(svc["outcome"], "unchanged");
    }
}

#[test]
fn init_is_required_and_allowed_once() {
    let s = setup(0);
    let publish = s.publish("publish.json", &s.commit, 1);
    let run = s.promote(&s.commit, &publish, &[]);
    run.assert_code(1);
    let doc = run.json();
    assert!(
        doc["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no catalog"),
        "{doc}"
    );
    assert!(
        doc["error"]["hint"].as_str().unwrap().contains("--init"),
        "{doc}"
    );
    assert_eq!(
        remote_head(&s.remote, GITOPS_BRANCH),
        None,
        "nothing pushed"
    );

    s.promote(&s.commit, &publish, &["--init"]).assert_code(0);
    let head = remote_head(&s.remote, GITOPS_BRANCH).unwrap();
    let run = s.promote(&s.commit, &publish, &["--init"]);
    run.assert_code(1);
    assert!(run.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("already has a catalog"));
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
    let msg = run.json()["error"]["message"].as_str().unwrap().to_string();
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
    let doc = run.json();
    assert_eq!(doc["outcome"], "noop", "{doc}");
    for svc in doc["services"].as_array().unwrap() {
        assert_eq!(svc["outcome"], "superseded", "{svc}");
        assert_eq!(svc["sourceCommit"], newer.as_str());
    }
    assert_eq!(remote_head(&s.remote, GITOPS_BRANCH).unwrap(), head);
    let cat = remote_catalog(&s.remote);
    assert_eq!(cat["sourceCommit"], newer.as_str());
    assert_eq!(
        cat["services"]["agentrun-mgr"]["digest"],
        digest(20).as_str()
    );
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
    assert_eq!(run.json()["commit"], head.as_str());
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
    let msg = run.json()["error"]["message"].as_str().unwrap().to_string();
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
        first.json()["tipSource"],
        "remote",
        "an --init always fetches"
    );
    let tip = fetch_into_workspace(&s);

    let run = s.promote(&s.commit, &s.publish("p2.json", &s.commit, 20), &[]);
    run.assert_code(0);
    let doc = run.json();
    assert_eq!(doc["outcome"], "committed", "{doc}");
    assert_eq!(doc["tipSource"], "workspace", "{doc}");
    assert_eq!(doc["attempts"], 1);
    assert_eq!(doc["previousCommit"], tip.as_str());
    let head = remote_head(&s.remote, GITOPS_BRANCH).unwrap();
    assert_eq!(doc["commit"], head.as_str());
    assert_eq!(
        remote_catalog(&s.remote)["services"]["agentrun-mgr"]["digest"],
        digest(20).as_str()
    );
    git(&s.remote, &["fsck", "--strict"]);

    // --fetch-first ignores the workspace's tip.
    let run = s.promote(
        &s.commit,
        &s.publish("p3.json", &s.commit, 30),
        &["--fetch-first"],
    );
    run.assert_code(0);
    assert_eq!(run.json()["tipSource"], "remote");
    assert_eq!(run.json()["previousCommit"], head.as_str());
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
    let doc = run.json();
    assert_eq!(doc["outcome"], "committed", "{doc}");
    assert_eq!(doc["attempts"], 2, "{doc}");
    assert_eq!(doc["tipSource"], "remote", "{doc}");
    assert_eq!(doc["previousCommit"], moved.as_str());
    let cat = remote_catalog(&s.remote);
    assert_eq!(
        cat["services"]["agentrun-runner"]["digest"],
        digest(77).as_str()
    );
    assert_eq!(
        cat["services"]["agentrun-mgr"]["digest"],
        digest(88).as_str()
    );
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
    let doc = run.json();
    assert_eq!(doc["outcome"], "committed", "{doc}");
    assert_eq!(doc["previousCommit"], moved.as_str());
    assert_eq!(doc["tipSource"], "remote");
    assert_eq!(
        remote_catalog(&s.remote)["services"]["agentrun-mgr"]["digest"],
        digest(10).as_str()
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
    let doc = run.json();
    assert_eq!(doc["tipSource"], "workspace", "{doc}");
    assert_eq!(doc["previousCommit"], tip.as_str());
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
    let doc = run.json();
    assert_eq!(doc["outcome"], "committed", "{doc}");
    assert_eq!(doc["tipSource"], "remote", "{doc}");
    assert_eq!(doc["previousCommit"], head.as_str());
    assert_eq!(
        remote_catalog(&s.remote)["services"]["agentrun-mgr"]["digest"],
        digest(30).as_str()
    );
}
