//! `lane plan` against real git repositories built here: decisions, strict commit
//! resolution, lane initialisation, Tekton result sizes, and that plan only reads.
// tests/common/registry.rs (shared, not used here) trips this lint in the newer clippy.
#![allow(clippy::zombie_processes)]

use crate::common;

use std::collections::BTreeMap;
use std::io::Write;
use std::process::{Command, Stdio};

use common::gitrepo::{bare_repo, git, TestRepo};
use common::plan::*;
use lane::model::plan::{Decision, Plan, PlanCounts};
use lane::model::Finding;
use serde_json::json;

fn ok_plan(repo: &TestRepo, args: &[&str]) -> Plan {
    let r = plan(repo.path(), args);
    r.assert_code(0);
    r.report()
}

// ---------------------------------------------------------------- decisions

#[test]
fn unchanged_services_are_reused_with_the_catalog_digest_and_a_changed_context_is_affected() {
    let repo = three_services();
    let init = initialise(repo.path());
    let built_at = init.source_commit.clone();
    repo.write("apps/mgr/src/main.txt", "mgr v2\n");
    let new = repo.commit("change mgr");

    let p = ok_plan(&repo, &[]);
    assert_eq!(p.source_commit, new);
    assert!(!p.init);
    assert_eq!(p.catalog_source_commit.as_deref(), Some(built_at.as_str()));
    assert_eq!(
        p.gitops_commit.clone().map(String::from),
        Some(git(
            repo.path(),
            &["rev-parse", &format!("refs/heads/{GITOPS_BRANCH}")]
        ))
    );
    assert_eq!(ids_with(&p, Decision::Affected), ["mgr"]);
    assert_eq!(ids_with(&p, Decision::Reused), ["runner", "web"]);

    let mgr = service(&p, "mgr");
    assert_eq!(mgr.tag.as_deref(), Some(new.as_str()));
    assert_eq!(
        mgr.image_repository.as_deref(),
        Some("127.0.0.1:5000/agentrun/mgr")
    );
    assert_eq!(mgr.reason, "build fingerprint changed");
    assert_eq!(mgr.build.as_ref().unwrap().context, "apps/mgr");
    assert!(mgr.fingerprint.is_some());
    assert_ne!(mgr.fingerprint, mgr.previous_fingerprint);
    assert!(mgr.digest.is_none() && mgr.reused_from.is_none());

    for id in ["runner", "web"] {
        let s = service(&p, id);
        assert_eq!(
            s.digest.clone().map(String::from),
            Some(digest_for(id)),
            "{id} keeps the catalog digest"
        );
        assert_eq!(s.reused_from.as_deref(), Some(built_at.as_str()));
        assert_eq!(s.tag.as_deref(), Some(built_at.as_str()));
        assert_eq!(
            s.image_repository.clone().map(String::from),
            Some(format!("127.0.0.1:5000/agentrun/{id}"))
        );
        assert_eq!(s.fingerprint, s.previous_fingerprint);
        assert!(s.build.is_none());
    }
    assert_eq!(
        p.counts,
        PlanCounts {
            total: 3,
            affected: 1,
            reused: 2,
            pin: 0,
            excluded: 0,
            unsupported: 0
        }
    );
}

#[test]
fn a_change_outside_every_context_affects_nothing() {
    let repo = three_services();
    initialise(repo.path());
    repo.write("README.md", "edited\n")
        .write("docs/new.md", "new\n");
    repo.commit("docs only");
    let dir = common::tempdir();
    let affected = dir.path().join("affected");
    let p = ok_plan(&repo, &["--result-affected", affected.to_str().unwrap()]);
    assert_eq!(ids_with(&p, Decision::Reused), ["mgr", "runner", "web"]);
    assert_eq!(std::fs::read_to_string(&affected).unwrap(), "[]");
}

#[test]
fn a_dockerfile_change_outside_the_context_affects_the_service() {
    let repo = three_services();
    repo.write("docker/web.Dockerfile", "FROM scratch\n");
    let mut web = built("web", "apps/web");
    web["build"]["dockerfile"] = json!("docker/web.Dockerfile");
    write_deploy(
        &repo,
        &deploy_json(vec![
            built("mgr", "apps/mgr"),
            built("runner", "apps/runner"),
            web,
        ]),
    );
    repo.commit("web uses a shared Dockerfile");
    initialise(repo.path());
    repo.write("docker/web.Dockerfile", "FROM scratch\nLABEL x=y\n");
    repo.commit("change the web Dockerfile");
    let p = ok_plan(&repo, &[]);
    assert_eq!(ids_with(&p, Decision::Affected), ["web"]);
}

#[test]
fn a_dockerfile_change_inside_the_context_affects_the_service() {
    let repo = three_services();
    initialise(repo.path());
    repo.write("apps/runner/Dockerfile", "FROM scratch\nUSER 1000\n");
    repo.commit("runner Dockerfile");
    assert_eq!(
        ids_with(&ok_plan(&repo, &[]), Decision::Affected),
        ["runner"]
    );
}

#[test]
fn a_renamed_context_is_affected_even_with_identical_content() {
    let repo = three_services();
    initialise(repo.path());
    repo.git(&["mv", "apps/web", "apps/frontend"]);
    write_deploy(
        &repo,
        &deploy_json(vec![
            built("mgr", "apps/mgr"),
            built("runner", "apps/runner"),
            built("web", "apps/frontend"),
        ]),
    );
    repo.commit("rename web context");
    let p = ok_plan(&repo, &[]);
    assert_eq!(ids_with(&p, Decision::Affected), ["web"]);
    assert_eq!(ids_with(&p, Decision::Reused), ["mgr", "runner"]);
    assert_eq!(
        service(&p, "web").build.as_ref().unwrap().context,
        "apps/frontend"
    );
}

#[test]
fn a_build_arg_or_target_change_is_affected_and_arg_order_is_not() {
    let repo = three_services();
    let mut mgr = built("mgr", "apps/mgr");
    mgr["build"]["args"] = json!({"A": "1", "B": "2"});
    write_deploy(
        &repo,
        &deploy_json(vec![
            mgr.clone(),
            built("runner", "apps/runner"),
            built("web", "apps/web"),
        ]),
    );
    repo.commit("args");
    initialise(repo.path());

    // Same args written in another order: nothing to rebuild.
    mgr["build"]["args"] = json!({"B": "2", "A": "1"});
    write_deploy(
        &repo,
        &deploy_json(vec![
            mgr.clone(),
            built("runner", "apps/runner"),
            built("web", "apps/web"),
        ]),
    );
    repo.commit("reorder args");
    assert!(ids_with(&ok_plan(&repo, &[]), Decision::Affected).is_empty());

    mgr["build"]["args"] = json!({"A": "1", "B": "3"});
    write_deploy(
        &repo,
        &deploy_json(vec![
            mgr.clone(),
            built("runner", "apps/runner"),
            built("web", "apps/web"),
        ]),
    );
    repo.commit("change an arg");
    assert_eq!(ids_with(&ok_plan(&repo, &[]), Decision::Affected), ["mgr"]);

    let mut runner = built("runner", "apps/runner");
    runner["build"]["target"] = json!("prod");
    write_deploy(
        &repo,
        &deploy_json(vec![mgr, runner, built("web", "apps/web")]),
    );
    repo.commit("runner target");
    assert_eq!(
        ids_with(&ok_plan(&repo, &[]), Decision::Affected),
        ["mgr", "runner"]
    );
}

#[test]
fn force_rebuilds_a_reused_service_and_rejects_unknown_or_unbuildable_ones() {
    let repo = three_services();
    initialise(repo.path());
    repo.commit("nothing changed");
    let p = ok_plan(&repo, &["--force", "web", "--force", "runner"]);
    assert_eq!(ids_with(&p, Decision::Affected), ["runner", "web"]);
    assert_eq!(service(&p, "web").reason, "forced with --force");

    let r = plan(repo.path(), &["--force", "nope"]);
    r.assert_code(2);
    let m = r.error_text();
    assert!(
        m.contains("no service 'nope'") && m.contains("mgr, runner, web"),
        "{m}"
    );

    let mut web = built("web", "apps/web");
    web["enabled"] = json!(false);
    write_deploy(&repo, &deploy_json(vec![built("mgr", "apps/mgr"), web]));
    repo.commit("disable web");
    let r = plan(repo.path(), &["--force", "web"]);
    r.assert_code(2);
    assert!(r.error_text().contains("excluded"), "{}", r.stdout);
}

#[test]
fn disabled_is_excluded_upstream_is_pinned_and_nothing_to_build_is_unsupported() {
    let repo = three_services();
    let mut web = built("web", "apps/web");
    web["enabled"] = json!(false);
    let redis = json!({"id": "redis", "kind": "deployment",
        "upstream": {"repository": "docker.io/library/redis", "tag": "7.2"}});
    write_deploy(
        &repo,
        &deploy_json(vec![built("mgr", "apps/mgr"), web.clone(), redis.clone()]),
    );
    repo.commit("lane with upstream and disabled");
    let p = initialise(repo.path());
    assert_eq!(decision(&p, "web"), Decision::Excluded);
    assert_eq!(decision(&p, "redis"), Decision::Pin);
    let redis_plan = service(&p, "redis");
    assert_eq!(
        redis_plan.image_repository.as_deref(),
        Some("docker.io/library/redis")
    );
    assert_eq!(redis_plan.tag.as_deref(), Some("7.2"));
    assert!(redis_plan.build.is_none() && redis_plan.fingerprint.is_none());

    // A service with neither build nor upstream: reported, exit 1, the document is printed.
    let bare = json!({"id": "ghost", "kind": "job"});
    write_deploy(
        &repo,
        &deploy_json(vec![built("mgr", "apps/mgr"), web, redis, bare]),
    );
    repo.commit("ghost service");
    let dir = common::tempdir();
    let out = dir.path().join("plan.json");
    let r = plan(repo.path(), &["--out", out.to_str().unwrap()]);
    r.assert_code(1);
    let doc = r.document::<Plan>();
    assert!(!doc.ok);
    let p = doc.report;
    assert_eq!(decision(&p, "ghost"), Decision::Unsupported);
    assert!(service(&p, "ghost")
        .reason
        .contains("nothing to build or pin"));
    assert_eq!(p.counts.unsupported, 1);
    assert_eq!(decision(&p, "mgr"), Decision::Reused);
    let written: Plan = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(written.services, p.services);
}

#[test]
fn out_file_holds_the_same_plan_as_stdout() {
    let repo = three_services();
    let dir = common::tempdir();
    let out = dir.path().join("ws/plan.json");
    let p = ok_plan(&repo, &["--init", "--out", out.to_str().unwrap()]);
    // The file is the plan alone (Plan denies unknown fields: no `command`, no `ok`).
    let written: Plan = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(written, p);
    assert_eq!(p.schema_version, 1);
    assert_eq!(p.lane, "v0.1");
    assert_eq!(p.source_branch, "v0.1");
    assert_eq!(p.gitops_branch, "v0.1-gitops");
    assert!(p.gitops_commit.is_none() && p.catalog_source_commit.is_none());
}

#[test]
fn a_missing_context_or_dockerfile_names_the_service_field_and_path() {
    let repo = three_services();
    initialise(repo.path());
    repo.git(&["rm", "-q", "apps/runner/Dockerfile"]);
    repo.commit("lose the runner Dockerfile");
    let r = plan(repo.path(), &[]);
    r.assert_code(1);
    let m = r.error_text();
    assert!(
        m.contains("service 'runner'")
            && m.contains("build.dockerfile")
            && m.contains("apps/runner/Dockerfile"),
        "{m}"
    );

    write_deploy(
        &repo,
        &deploy_json(vec![built("mgr", "apps/mgr"), built("web", "apps/gone")]),
    );
    repo.commit("web context missing");
    let r = plan(repo.path(), &[]);
    r.assert_code(1);
    let m = r.error_text();
    assert!(
        m.contains("service 'web'") && m.contains("build.context 'apps/gone'"),
        "{m}"
    );

    // A context that is a file, not a directory.
    write_deploy(
        &repo,
        &deploy_json(vec![json!({"id": "mgr", "kind": "deployment",
            "build": {"context": "README.md", "dockerfile": "apps/mgr/Dockerfile"}})]),
    );
    repo.commit("context is a file");
    let m = plan(repo.path(), &[]).assert_code(1).error_text();
    assert!(m.contains("is a file, not a directory"), "{m}");
}

#[test]
fn deploy_json_comes_from_the_commit_unless_given() {
    let repo = TestRepo::init("v0.1");
    repo.write("apps/a/Dockerfile", "FROM scratch\n");
    repo.commit("no deploy.json");
    let r = plan(repo.path(), &["--init"]);
    r.assert_code(1);
    assert!(r
        .error_text()
        .contains("deploy/deploy.json does not exist in commit"));

    let dir = common::tempdir();
    let deploy = dir.path().join("deploy.json");
    std::fs::write(&deploy, deploy_json(vec![built("a", "apps/a")]).to_string()).unwrap();
    let p = ok_plan(&repo, &["--init", "--deploy", deploy.to_str().unwrap()]);
    assert_eq!(ids_with(&p, Decision::Affected), ["a"]);
}

// ---------------------------------------------------------------- catalog and initialisation

#[test]
fn no_catalog_is_an_error_that_asks_for_init_and_init_plans_everything() {
    let repo = three_services();
    let r = plan(repo.path(), &[]);
    r.assert_code(1);
    let m = r.error_text();
    assert!(
        m.contains("must be initialised") && m.contains("--init"),
        "{m}"
    );
    assert!(m.contains("v0.1-gitops does not exist"), "{m}");

    // A GitOps branch without the catalog file is not initialised either.
    commit_to_branch(repo.path(), GITOPS_BRANCH, &[("README.md", "gitops\n")]);
    let r = plan(repo.path(), &[]);
    r.assert_code(1);
    assert!(r
        .error_text()
        .contains("has no deploy/artifact-catalog.v01.json"));

    // Another branch's catalog is never a fallback.
    let other = catalog_from_plan(&ok_plan(&repo, &["--init"]));
    commit_to_branch(
        repo.path(),
        "master",
        &[(CATALOG_PATH, &serde_json::to_string(&other).unwrap())],
    );
    plan(repo.path(), &[]).assert_code(1);

    let p = ok_plan(&repo, &["--init"]);
    assert!(p.init);
    assert_eq!(ids_with(&p, Decision::Affected), ["mgr", "runner", "web"]);
    for id in ["mgr", "runner", "web"] {
        let s = service(&p, id);
        assert!(s.reason.contains("initialisation"));
        assert!(s.previous_fingerprint.is_none());
        assert_eq!(s.tag.as_deref(), Some(p.source_commit.as_str()));
    }

    // Once the catalog exists, --init is refused.
    commit_catalog(repo.path(), &catalog_from_plan(&p));
    let r = plan(repo.path(), &["--init"]);
    r.assert_code(1);
    assert!(r.error_text().contains("already initialised"));
}

#[test]
fn a_catalog_of_another_lane_is_rejected() {
    let repo = three_services();
    let mut cat = catalog_from_plan(&ok_plan(&repo, &["--init"]));
    cat.lane = "v0.2".into();
    cat.source_branch = "v0.2".into();
    commit_catalog(repo.path(), &cat);
    let r = plan(repo.path(), &[]);
    r.assert_code(1);
    let m = r.error_text();
    assert!(m.contains("lane-mismatch") && m.contains("v0.2"), "{m}");
    // Error details are free-form per error: the findings are read out of them.
    let details = r.error().error.details.expect("details");
    let findings: Vec<Finding> = serde_json::from_value(details["findings"].clone()).unwrap();
    assert_eq!(findings[0].rule, "lane-mismatch");

    let dir = common::tempdir();
    let file = dir.path().join("catalog.json");
    std::fs::write(&file, serde_json::to_string(&cat).unwrap()).unwrap();
    plan(repo.path(), &["--catalog", file.to_str().unwrap()]).assert_code(1);
}

#[test]
fn a_catalog_file_can_stand_in_for_the_gitops_branch() {
    let repo = three_services();
    let cat = catalog_from_plan(&ok_plan(&repo, &["--init"]));
    let dir = common::tempdir();
    let file = dir.path().join("catalog.json");
    std::fs::write(&file, serde_json::to_string(&cat).unwrap()).unwrap();
    let p = ok_plan(&repo, &["--catalog", file.to_str().unwrap()]);
    assert_eq!(ids_with(&p, Decision::Reused), ["mgr", "runner", "web"]);
    assert!(p.gitops_commit.is_none());
    plan(
        repo.path(),
        &["--catalog", file.to_str().unwrap(), "--init"],
    )
    .assert_code(2);
}

#[test]
fn the_catalog_is_read_from_a_remote_gitops_branch_and_plan_writes_nothing_else() {
    let repo = three_services();
    let init = ok_plan(&repo, &["--init"]);
    let (_keep, remote) = bare_repo();
    commit_catalog(&remote, &catalog_from_plan(&init));
    repo.write("apps/web/src/main.txt", "web v2\n");
    repo.commit("web v2");
    repo.write("untracked.txt", "left alone\n");
    let before = repo_state(repo.path());

    let url = format!("file://{}", remote.display());
    let p = ok_plan(&repo, &["--gitops-remote", &url]);
    assert_eq!(ids_with(&p, Decision::Affected), ["web"]);
    assert_eq!(
        p.gitops_commit.clone().map(String::from),
        Some(git(
            &remote,
            &["rev-parse", &format!("refs/heads/{GITOPS_BRANCH}")]
        ))
    );

    let after = repo_state(repo.path());
    assert_eq!(after.1, before.1, "HEAD moved");
    assert_eq!(after.2, before.2, "worktree or index changed");
    let fetched = format!("refs/lane/gitops/{GITOPS_BRANCH}");
    let new_refs: Vec<&str> = after
        .0
        .lines()
        .filter(|l| !before.0.lines().any(|b| b == *l))
        .collect();
    assert_eq!(new_refs.len(), 1, "{new_refs:?}");
    assert!(new_refs[0].starts_with(&fetched), "{new_refs:?}");
    assert!(
        before.0.lines().all(|l| after.0.contains(l)),
        "a ref changed"
    );
}

#[test]
fn plan_leaves_the_source_repository_unchanged() {
    let repo = three_services();
    initialise(repo.path());
    repo.write("apps/mgr/src/main.txt", "dirty, uncommitted\n");
    let before = repo_state(repo.path());
    let dir = common::tempdir();
    let args: Vec<String> = vec![
        "--out".into(),
        dir.path().join("plan.json").display().to_string(),
        "--result-affected".into(),
        dir.path().join("affected").display().to_string(),
    ];
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let p = ok_plan(&repo, &args);
    // The plan is of the commit, not of the dirty worktree.
    assert!(ids_with(&p, Decision::Affected).is_empty());
    assert_eq!(repo_state(repo.path()), before);
}

#[test]
fn plan_works_in_a_bare_repository() {
    let repo = three_services();
    initialise(repo.path());
    let dir = common::tempdir();
    let bare = dir.path().join("bare.git");
    git(
        dir.path(),
        &[
            "clone",
            "-q",
            "--bare",
            repo.path().to_str().unwrap(),
            bare.to_str().unwrap(),
        ],
    );
    let r = plan(
        &bare,
        &[
            "--commit",
            "v0.1",
            "--gitops-ref",
            &format!("refs/heads/{GITOPS_BRANCH}"),
        ],
    );
    r.assert_code(0);
    assert_eq!(
        ids_with(&r.report(), Decision::Reused),
        ["mgr", "runner", "web"]
    );
}

// ---------------------------------------------------------------- commit resolution

fn fast_import(dir: &std::path::Path, stream: &[u8]) {
    let mut child = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["fast-import", "--quiet"])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stream).unwrap();
    assert!(child.wait().unwrap().success());
}

/// All objects by id and type.
fn objects(dir: &std::path::Path) -> Vec<(String, String)> {
    git(
        dir,
        &[
            "cat-file",
            "--batch-all-objects",
            "--batch-check=%(objectname) %(objecttype)",
        ],
    )
    .lines()
    .map(|l| {
        let (id, t) = l.split_once(' ').unwrap();
        (id.to_string(), t.to_string())
    })
    .collect()
}

/// A repository where a commit's 4-hex prefix is shared with another object: thousands of
/// blobs, then commits until one collides. Returns (repo, commit, shared prefix).
fn ambiguous_commit_repo() -> (TestRepo, String, String) {
    let repo = three_services();
    let mut stream = Vec::new();
    for i in 0..3000 {
        let body = format!("blob number {i}\n");
        stream.extend_from_slice(format!("blob\ndata {}\n{body}\n", body.len()).as_bytes());
    }
    fast_import(repo.path(), &stream);
    let mut prefixes: BTreeMap<String, String> = BTreeMap::new();
    for (id, _) in objects(repo.path()) {
        prefixes.insert(id[..4].to_string(), id);
    }
    let tree = git(repo.path(), &["rev-parse", "HEAD^{tree}"]);
    for i in 0..2000 {
        let c = git(
            repo.path(),
            &["commit-tree", &tree, "-m", &format!("try {i}")],
        );
        if let Some(other) = prefixes.get(&c[..4]) {
            if *other != c {
                git(repo.path(), &["update-ref", "refs/heads/collide", &c]);
                let p = c[..4].to_string();
                return (repo, c, p);
            }
        }
        prefixes.insert(c[..4].to_string(), c);
    }
    panic!("no 4-hex collision after 2000 commits and 3000 blobs");
}

#[test]
fn an_ambiguous_short_sha_is_a_clear_error_and_a_longer_one_resolves() {
    let (repo, commit, prefix) = ambiguous_commit_repo();
    // git agrees the prefix is ambiguous.
    let listed = git(
        repo.path(),
        &["rev-parse", &format!("--disambiguate={prefix}")],
    );
    assert!(listed.lines().count() >= 2, "{listed}");

    let r = plan(repo.path(), &["--init", "--commit", &prefix]);
    r.assert_code(1);
    let m = r.error_text();
    assert!(
        m.contains(&format!("short commit '{prefix}' is ambiguous")),
        "{m}"
    );
    assert!(m.contains("more characters"), "{m}");

    let lane_repo = lane::git::Repo::open(repo.path()).unwrap();
    let e = lane_repo.resolve_commit(&prefix).unwrap_err();
    assert!(matches!(e, lane::git::GitError::Ambiguous { .. }), "{e}");
    assert_eq!(lane_repo.resolve_commit(&commit[..12]).unwrap(), commit);
    assert_eq!(
        lane_repo.resolve_commit(&commit.to_uppercase()).unwrap(),
        commit
    );

    let p = ok_plan(&repo, &["--init", "--commit", &commit[..12]]);
    assert_eq!(p.source_commit, commit);
}

#[test]
fn a_missing_short_or_full_sha_is_a_clear_error() {
    let repo = three_services();
    let ids = objects(repo.path());
    let missing = (0u32..)
        .map(|n| format!("{n:07x}"))
        .find(|p| !ids.iter().any(|(id, _)| id.starts_with(p.as_str())))
        .unwrap();
    for spec in [missing.clone(), format!("{missing}{}", "0".repeat(33))] {
        let r = plan(repo.path(), &["--init", "--commit", &spec]);
        r.assert_code(1);
        let m = r.error_text();
        assert!(m.contains(&format!("'{spec}' matches no commit")), "{m}");
        assert!(m.contains("fetch the commit"), "{m}");
    }
    let r = plan(repo.path(), &["--init", "--commit", "no-such-branch"]);
    r.assert_code(1);
    assert!(r.error_text().contains("matches no commit"));
}

#[test]
fn refs_tags_trees_and_blobs_resolve_strictly() {
    let repo = three_services();
    let head = repo.head();
    repo.git(&["tag", "light"]);
    repo.git(&["tag", "-a", "-m", "annotated", "v1"]);
    let tree = git(repo.path(), &["rev-parse", "HEAD^{tree}"]);
    let blob = git(repo.path(), &["rev-parse", "HEAD:README.md"]);
    let tree_tag = {
        repo.git(&["tag", "-a", "-m", "tree tag", "treetag", &tree]);
        "treetag"
    };
    let r = lane::git::Repo::open(repo.path()).unwrap();
    for spec in [
        "HEAD",
        "v0.1",
        "refs/heads/v0.1",
        "light",
        "v1",
        "refs/tags/v1",
        &head,
    ] {
        assert_eq!(r.resolve_commit(spec).unwrap(), head, "{spec}");
    }
    for (spec, kind) in [
        (tree.as_str(), "tree"),
        (blob.as_str(), "blob"),
        (tree_tag, "tree"),
    ] {
        let e = r.resolve_commit(spec).unwrap_err();
        assert!(
            matches!(e, lane::git::GitError::NotACommit { .. }),
            "{spec}: {e}"
        );
        assert!(e.to_string().contains(&format!("names a {kind}")), "{e}");
        let run = plan(repo.path(), &["--init", "--commit", spec]);
        run.assert_code(1);
        assert!(run.error_text().contains("not a commit"));
    }
    // Expressions are not refs: strict resolution does not guess.
    for spec in ["HEAD~1", "v0.1^", "-x", "", "a b"] {
        assert!(r.resolve_commit(spec).is_err(), "{spec}");
    }
    let run = plan(repo.path(), &["--init", "--commit", "HEAD~1"]);
    run.assert_code(1);
}

// ---------------------------------------------------------------- Tekton results

const DOMAINS: [&str; 20] = [
    "auth", "billing", "cart", "catalog", "checkout", "search", "orders", "payments", "profile",
    "notify", "gateway", "media", "ledger", "inbox", "audit", "reports", "quota", "shipping",
    "pricing", "reviews",
];
const ROLES: [&str; 10] = [
    "api", "worker", "sync", "cron", "web", "admin", "events", "jobs", "proxy", "cache",
];

fn lane_of_200() -> (TestRepo, Vec<String>) {
    let repo = TestRepo::init("v0.1");
    let mut ids = Vec::new();
    let mut services = Vec::new();
    for d in DOMAINS {
        for r in ROLES {
            let id = format!("{d}-{r}");
            let dir = format!("services/{d}/{r}");
            repo.write(
                &format!("{dir}/Dockerfile"),
                &format!("FROM scratch\nLABEL s={id}\n"),
            );
            services.push(built(&id, &dir));
            ids.push(id);
        }
    }
    write_deploy(&repo, &deploy_json(services));
    repo.commit("200 services");
    (repo, ids)
}

#[test]
fn results_for_200_affected_services_fit_the_termination_message() {
    let (repo, ids) = lane_of_200();
    let avg = ids.iter().map(String::len).sum::<usize>() as f64 / ids.len() as f64;
    assert!(avg >= 10.0, "ids of realistic length (average {avg})");
    let dir = common::tempdir();
    let (affected, counts, commit) = (
        dir.path().join("affected"),
        dir.path().join("counts"),
        dir.path().join("commit"),
    );
    let p = ok_plan(
        &repo,
        &[
            "--init",
            "--result-affected",
            affected.to_str().unwrap(),
            "--result-counts",
            counts.to_str().unwrap(),
            "--result-commit",
            commit.to_str().unwrap(),
        ],
    );
    let values: Vec<String> = [&affected, &counts, &commit]
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect();
    let total: usize = values.iter().map(String::len).sum();
    assert!(total < 4096, "results take {total} bytes together");
    // The way Tekton carries them: one termination message for the step.
    let message = serde_json::to_string(&json!([
        {"key": "affected", "value": values[0], "type": 1},
        {"key": "counts", "value": values[1], "type": 1},
        {"key": "commit", "value": values[2], "type": 1},
    ]))
    .unwrap();
    assert!(
        message.len() <= 4096 - 128,
        "termination message {} bytes",
        message.len()
    );

    let listed: Vec<String> = serde_json::from_str(&values[0]).unwrap();
    assert_eq!(listed, ids);
    assert!(!values[0].contains(' ') && !values[0].ends_with('\n'));
    let c: PlanCounts = serde_json::from_str(&values[1]).unwrap();
    assert_eq!(c, p.counts);
    assert_eq!(c.affected, 200);
    assert!(!values[1].contains(' ') && !values[1].ends_with('\n'));
    assert_eq!(values[2], p.source_commit);
    assert_eq!(values[2].len(), 40);
}

#[test]
fn results_that_would_overflow_fail_before_anything_is_written() {
    let repo = TestRepo::init("v0.1");
    let mut services = Vec::new();
    for i in 0..200 {
        let id = format!("a-long-service-name-for-the-overflow-check-{i:03}");
        let dir = format!("s/{i}");
        repo.write(&format!("{dir}/Dockerfile"), "FROM scratch\n");
        services.push(built(&id, &dir));
    }
    write_deploy(&repo, &deploy_json(services));
    repo.commit("long ids");
    let dir = common::tempdir();
    let affected = dir.path().join("affected");
    let out = dir.path().join("plan.json");
    let r = plan(
        repo.path(),
        &[
            "--init",
            "--out",
            out.to_str().unwrap(),
            "--result-affected",
            affected.to_str().unwrap(),
        ],
    );
    r.assert_code(1);
    assert!(r.error_text().contains("termination message"));
    assert!(!affected.exists() && !out.exists());
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "no temp files left"
    );
}
