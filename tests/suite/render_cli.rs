//! `lane render` end to end: `--out` replaces the runtime dir whole; `--no-write` compares
//! with the GitOps branch of a real git repository and writes nothing.

use crate::common;

use std::collections::BTreeMap;
use std::path::Path;

use common::gitrepo::TestRepo;
use common::render::*;
use lane::render::cli::{
    BaselineKind, CatalogOrigin, Change, LineStatus, Mode, RenderReport, Summary,
};
use serde_json::{json, Value};

const RUNTIME: &str = "deploy/gitops/g14/runtime-v01";
const CATALOG: &str = "deploy/artifact-catalog.v01.json";

fn snapshot(repo: &TestRepo) -> (String, String, String, BTreeMap<String, String>) {
    let refs = repo.git(&["for-each-ref", "--format=%(refname) %(objectname)"]);
    let objects = repo.git(&["count-objects", "-v"]);
    let status = repo.git(&["status", "--porcelain", "--untracked-files=all"]);
    let mut files = BTreeMap::new();
    fn walk(base: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let e = e.unwrap();
            let p = e.path();
            if e.file_name() == ".git" {
                continue;
            }
            if p.is_dir() {
                walk(base, &p, out);
            } else {
                out.insert(
                    p.strip_prefix(base).unwrap().display().to_string(),
                    std::fs::read_to_string(&p).unwrap_or_default(),
                );
            }
        }
    }
    walk(repo.path(), repo.path(), &mut files);
    (refs, objects, status, files)
}

/// A repo whose GitOps branch holds catalog `cat` and the tree rendered from `old_cat`,
/// edited: one file dropped, one stale file added. The worktree is on the source branch.
fn gitops_repo(cat: &Value, tree: &BTreeMap<String, String>) -> TestRepo {
    let repo = TestRepo::init("v0.1-gitops");
    repo.write(CATALOG, &serde_json::to_string_pretty(cat).unwrap());
    for (k, v) in tree {
        repo.write(&format!("{RUNTIME}/{k}"), v);
    }
    repo.commit("gitops");
    repo.git(&["checkout", "-q", "--orphan", "v0.1"]);
    repo.git(&["rm", "-rqf", "."]);
    repo.write("README.md", "source\n");
    repo.commit("source");
    repo
}

#[test]
fn no_write_reports_changes_against_the_gitops_branch_and_touches_nothing() {
    let lane = shipped_lane();
    let old = lane::render::render_tree(&lane, &v01_catalog())
        .unwrap()
        .files;
    let mut committed = old.clone();
    committed.remove("service-agentrun-mgr.yaml");
    committed.insert(
        "deployment-retired.yaml".into(),
        "kind: Deployment\n".into(),
    );
    // The catalog on the branch has a new runner digest.
    let mut cat = v01_catalog_json();
    cat["services"]["agentrun-runner"]["digest"] = json!(format!("sha256:{}", "e".repeat(64)));
    let repo = gitops_repo(&cat, &committed);
    let before = snapshot(&repo);
    let deploy = common::shipped_deploy();
    let run = common::lane(
        repo.path(),
        &[
            "render",
            "--deploy",
            deploy.to_str().unwrap(),
            "--repo",
            ".",
            "--no-write",
            "--diff",
        ],
    );
    run.assert_code(0);
    let doc: RenderReport = run.report();
    assert_eq!(doc.mode, Mode::NoWrite);
    assert!(!doc.written);
    assert_eq!(doc.catalog.source, CatalogOrigin::Gitops);
    assert_eq!(doc.against.kind, BaselineKind::Gitops);
    assert_eq!(
        doc.against.gitops.as_ref().unwrap().git_ref,
        "refs/heads/v0.1-gitops"
    );
    let by: BTreeMap<&str, Change> = doc
        .files
        .iter()
        .map(|f| (f.path.as_str(), f.change))
        .collect();
    assert_eq!(by["service-agentrun-mgr.yaml"], Change::Added);
    assert_eq!(by["deployment-retired.yaml"], Change::Removed);
    assert_eq!(by["cronjob-agentrun-runner.yaml"], Change::Changed);
    assert_eq!(by["kustomization.yaml"], Change::Unchanged);
    assert_eq!(by["deployment-agentrun-mgr.yaml"], Change::Unchanged);
    assert_eq!(
        doc.summary,
        Summary {
            files: 18,
            added: 1,
            changed: 1,
            removed: 1,
            unchanged: 17 - 1 - 1 + 1
        }
    );
    assert!(doc.changed);
    // sha256 is of the rendered content.
    let f = doc
        .files
        .iter()
        .find(|f| f.path == "kustomization.yaml")
        .unwrap();
    assert_eq!(
        f.sha256,
        lane::render::cli::sha256_hex(old["kustomization.yaml"].as_bytes())
    );
    let diff = doc.diff.as_deref().unwrap();
    assert!(
        diff.contains("--- a/cronjob-agentrun-runner.yaml\n+++ b/cronjob-agentrun-runner.yaml\n"),
        "{diff}"
    );
    assert!(
        diff.contains(&format!(
            "+    \"lane.dev/image-digest\": \"sha256:{}\"",
            "e".repeat(64)
        )),
        "{diff}"
    );
    assert!(diff.contains("--- /dev/null\n+++ b/service-agentrun-mgr.yaml\n"));
    assert!(diff.contains("--- a/deployment-retired.yaml\n+++ /dev/null\n"));
    // Nothing moved: refs, object count, status and the work dir are as before.
    assert_eq!(snapshot(&repo), before);
}

#[test]
fn no_write_against_a_directory_and_an_identical_tree_reports_no_change() {
    let dir = common::tempdir();
    let cat = dir.path().join("catalog.json");
    std::fs::write(&cat, serde_json::to_string(&v01_catalog_json()).unwrap()).unwrap();
    let against = dir.path().join("current");
    write_tree(
        &against,
        &lane::render::render_tree(&shipped_lane(), &v01_catalog())
            .unwrap()
            .files,
    );
    let deploy = common::shipped_deploy();
    let run = common::lane(
        dir.path(),
        &[
            "render",
            "--deploy",
            deploy.to_str().unwrap(),
            "--catalog",
            cat.to_str().unwrap(),
            "--no-write",
            "--against",
            against.to_str().unwrap(),
        ],
    );
    run.assert_code(0);
    let doc: RenderReport = run.report();
    assert!(!doc.changed);
    assert_eq!(doc.summary.unchanged, 18);
    assert!(!dir.path().join("deploy").exists());
}

#[test]
fn out_replaces_the_directory_whole() {
    let dir = common::tempdir();
    let cat = dir.path().join("catalog.json");
    std::fs::write(&cat, serde_json::to_string(&v01_catalog_json()).unwrap()).unwrap();
    let out = dir.path().join("runtime");
    let deploy = common::shipped_deploy();
    let r = |deploy: &str| {
        common::lane(
            dir.path(),
            &[
                "render",
                "--deploy",
                deploy,
                "--catalog",
                cat.to_str().unwrap(),
                "--out",
                out.to_str().unwrap(),
            ],
        )
    };
    r(deploy.to_str().unwrap()).assert_code(0);
    let first = read_dir(&out);
    assert_eq!(first.len(), 18);
    // Disable the runner: its files disappear from the directory.
    let mut v = shipped_json();
    v["services"][1]["enabled"] = json!(false);
    let d2 = dir.path().join("deploy.json");
    std::fs::write(&d2, serde_json::to_string_pretty(&v).unwrap()).unwrap();
    let run = r(d2.to_str().unwrap());
    run.assert_code(0);
    let second = read_dir(&out);
    assert!(
        second.keys().all(|k| !k.contains("agentrun-runner")),
        "{:?}",
        second.keys()
    );
    assert!(run.report::<RenderReport>().summary.removed >= 4);
    // No temp dirs are left beside it.
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        names
            .iter()
            .all(|n| !n.contains("lane-new") && !n.contains("lane-old")),
        "{names:?}"
    );
}

#[test]
fn out_refuses_a_directory_it_did_not_write() {
    let dir = common::tempdir();
    let cat = dir.path().join("catalog.json");
    std::fs::write(&cat, serde_json::to_string(&v01_catalog_json()).unwrap()).unwrap();
    let deploy = common::shipped_deploy();
    // Pointing --out at a directory with other content must not delete it.
    let run = common::lane(
        dir.path(),
        &[
            "render",
            "--deploy",
            deploy.to_str().unwrap(),
            "--catalog",
            cat.to_str().unwrap(),
            "--out",
            ".",
        ],
    );
    run.assert_code(1);
    assert!(cat.exists());
}

#[test]
fn missing_digest_fails_and_writes_nothing() {
    let dir = common::tempdir();
    let cat = dir.path().join("catalog.json");
    let c = common::test_catalog(COMMIT, &[("agentrun-mgr", "deployment", 'a')]);
    std::fs::write(&cat, serde_json::to_string(&c).unwrap()).unwrap();
    let out = dir.path().join("runtime");
    let deploy = common::shipped_deploy();
    let run = common::lane(
        dir.path(),
        &[
            "render",
            "--deploy",
            deploy.to_str().unwrap(),
            "--catalog",
            cat.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
    );
    run.assert_code(1);
    assert!(run.error().error.message.contains("agentrun-runner"));
    assert!(!out.exists());
    // The dry-run lists it as missing.
    let against = dir.path().join("empty");
    std::fs::create_dir(&against).unwrap();
    let run = common::lane(
        dir.path(),
        &[
            "render",
            "--deploy",
            deploy.to_str().unwrap(),
            "--catalog",
            cat.to_str().unwrap(),
            "--no-write",
            "--against",
            against.to_str().unwrap(),
        ],
    );
    run.assert_code(1);
    let doc: RenderReport = run.report();
    assert_eq!(doc.missing, ["agentrun-runner"]);
    let runner = doc
        .services
        .iter()
        .find(|s| s.id == "agentrun-runner")
        .unwrap();
    assert_eq!(runner.status, LineStatus::Missing);
}

/// `render --out` only ever removes files it wrote: a hand-written `*.yaml` in the directory,
/// or a hand edit of a file it wrote, makes it refuse (exit 1) and leaves everything as it
/// was. Before issue 14 it deleted any `*.yaml` it found there.
#[test]
fn out_never_deletes_a_file_lane_did_not_write() {
    let dir = common::tempdir();
    let cat = dir.path().join("catalog.json");
    std::fs::write(&cat, serde_json::to_string(&v01_catalog_json()).unwrap()).unwrap();
    let deploy = common::shipped_deploy();
    let render = |out: &std::path::Path| {
        common::lane(
            dir.path(),
            &[
                "render",
                "--deploy",
                deploy.to_str().unwrap(),
                "--catalog",
                cat.to_str().unwrap(),
                "--out",
                out.to_str().unwrap(),
            ],
        )
    };
    // A directory of YAML lane never wrote: refused, nothing touched.
    let foreign = dir.path().join("foreign");
    std::fs::create_dir(&foreign).unwrap();
    std::fs::write(foreign.join("hand-written.yaml"), "kind: Note\n").unwrap();
    let run = render(&foreign);
    run.assert_code(1);
    assert!(run.error().error.hint.is_some());
    assert_eq!(
        std::fs::read_to_string(foreign.join("hand-written.yaml")).unwrap(),
        "kind: Note\n"
    );
    // An empty directory is fine, and so is lane's own directory, again and again.
    let out = dir.path().join("runtime");
    std::fs::create_dir(&out).unwrap();
    render(&out).assert_code(0);
    assert!(out.join(".lane-render.json").is_file());
    render(&out).assert_code(0);
    // A file added beside lane's: refused, both kept.
    std::fs::write(out.join("extra.yaml"), "kind: Extra\n").unwrap();
    render(&out).assert_code(1);
    assert!(out.join("extra.yaml").is_file() && out.join("kustomization.yaml").is_file());
    std::fs::remove_file(out.join("extra.yaml")).unwrap();
    // A hand edit of a file lane wrote: refused, the edit kept.
    let edited = out.join("kustomization.yaml");
    let mut text = std::fs::read_to_string(&edited).unwrap();
    text.push_str("# reviewed by hand\n");
    std::fs::write(&edited, &text).unwrap();
    render(&out).assert_code(1);
    assert_eq!(std::fs::read_to_string(&edited).unwrap(), text);
}

/// A template override that is not a regular file (a FIFO would block the read forever) is
/// refused, like every other input file.
#[test]
fn a_template_override_must_be_a_regular_file() {
    let dir = common::tempdir();
    let cat = dir.path().join("catalog.json");
    std::fs::write(&cat, serde_json::to_string(&v01_catalog_json()).unwrap()).unwrap();
    let templates = dir.path().join("templates");
    std::fs::create_dir(&templates).unwrap();
    let made = std::process::Command::new("mkfifo")
        .arg(templates.join("deployment.yaml"))
        .status()
        .unwrap();
    assert!(made.success());
    let deploy = common::shipped_deploy();
    let against = dir.path().join("empty");
    std::fs::create_dir(&against).unwrap();
    let start = std::time::Instant::now();
    let run = common::lane(
        dir.path(),
        &[
            "render",
            "--deploy",
            deploy.to_str().unwrap(),
            "--catalog",
            cat.to_str().unwrap(),
            "--templates",
            templates.to_str().unwrap(),
            "--no-write",
            "--against",
            against.to_str().unwrap(),
        ],
    );
    assert!(start.elapsed() < std::time::Duration::from_secs(10));
    run.assert_code(1);
    assert!(run.stdout.contains("not-a-file"), "{}", run.stdout);
}
