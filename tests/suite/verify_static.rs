//! `lane verify --only static` (GitOps branch and source groups) on real git repositories:
//! a source branch with deploy.json, a GitOps branch with catalog and rendered tree, pushed to
//! a bare origin and fetched back.

// tests/common/registry.rs (core) trips this lint; it is not part of these tests.
#![allow(clippy::zombie_processes)]

use crate::common;

use common::kube::{image, run_git, LaneRepos, CATALOG_PATH, MGR_DIGEST_CHAR, RUNTIME_PATH};
use lane::model::Finding;
use lane::verify::{Check, Group, Status, VerifyReport};
use serde_json::Value;

fn verify(repos: &LaneRepos, extra: &[&str]) -> common::Run {
    let repo = repos.repo_arg();
    let mut args = vec!["verify", "--only", "static", "--repo", repo.as_str()];
    args.extend_from_slice(extra);
    common::lane(repos.source.path(), &args)
}

/// The check `id` of a verify report. A check's `evidence` is free-form per check (a
/// `Value` in the report type), so the tests below read it raw.
fn check<'a>(doc: &'a VerifyReport, id: &str) -> &'a Check {
    doc.checks
        .iter()
        .find(|c| c.id == id)
        .unwrap_or_else(|| panic!("no check {id} in {doc:#?}"))
}

fn status(doc: &VerifyReport, id: &str) -> Status {
    check(doc, id).status
}

#[test]
fn a_clean_release_passes_every_static_check_in_order() {
    let repos = LaneRepos::new();
    let run = verify(&repos, &[]);
    run.assert_code(0);
    let doc: VerifyReport = run.report();
    let ids: Vec<&str> = doc.checks.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "gitops.catalog",
            "gitops.pinned",
            "gitops.no-secrets",
            "gitops.drift",
            "source.deploy-json",
            "source.untracked-generated",
            "source.legacy-targets",
            "source.clean"
        ]
    );
    assert_eq!(doc.summary.fail, 0);
    assert_eq!(doc.commit, repos.commit);
    assert_eq!(doc.gitops.as_ref().unwrap().commit, repos.gitops_head);
    assert_eq!(
        check(&doc, "gitops.drift").evidence["changed"],
        serde_json::json!([])
    );
}

#[test]
fn a_tag_instead_of_a_digest_fails_pinned() {
    let mut repos = LaneRepos::new();
    let pinned = image("agentrun-mgr", MGR_DIGEST_CHAR);
    let tagged = format!("127.0.0.1:5000/agentrun/agentrun-mgr:{}", repos.commit);
    repos.gitops_commit(|dir| {
        let root = dir.join(RUNTIME_PATH);
        let mut hit = false;
        for e in std::fs::read_dir(&root).unwrap() {
            let p = e.unwrap().path();
            let t = std::fs::read_to_string(&p).unwrap();
            if t.contains(&pinned) {
                std::fs::write(&p, t.replace(&pinned, &tagged)).unwrap();
                hit = true;
            }
        }
        assert!(hit, "the rendered tree names {pinned}");
    });
    let run = verify(&repos, &[]);
    run.assert_code(1);
    let doc: VerifyReport = run.report();
    assert_eq!(status(&doc, "gitops.pinned"), Status::Fail);
    let msg = &check(&doc, "gitops.pinned").message;
    assert!(
        msg.contains("is not pinned by digest") && msg.contains(&tagged),
        "{msg}"
    );
    // The hand edit is also drift.
    assert_eq!(status(&doc, "gitops.drift"), Status::Fail);
}

#[test]
fn a_hand_edited_runtime_file_is_drift_and_names_the_file() {
    let mut repos = LaneRepos::new();
    let file = repos
        .tree
        .keys()
        .find(|f| f.as_str() != "kustomization.yaml")
        .unwrap()
        .clone();
    repos.gitops_commit(|dir| {
        let p = dir.join(RUNTIME_PATH).join(&file);
        let t = std::fs::read_to_string(&p).unwrap();
        std::fs::write(&p, format!("{t}# patched by hand\n")).unwrap();
    });
    let run = verify(&repos, &[]);
    run.assert_code(1);
    let doc: VerifyReport = run.report();
    let drift = check(&doc, "gitops.drift");
    assert_eq!(drift.status, Status::Fail);
    assert_eq!(drift.evidence["changed"], serde_json::json!([file]));
    assert!(drift.hint.as_deref().unwrap().contains("promote"));
    // Everything else about the branch is still fine.
    assert_eq!(status(&doc, "gitops.pinned"), Status::Pass);
    assert_eq!(status(&doc, "gitops.catalog"), Status::Pass);
}

#[test]
fn a_secret_in_the_tree_fails_without_printing_the_value() {
    let mut repos = LaneRepos::new();
    let value = "postgres://app:hunter2-very-secret@db:5432/agentrun_v01";
    repos.gitops_commit(|dir| {
        std::fs::write(
            dir.join(RUNTIME_PATH).join("secret-postgres.yaml"),
            format!(
                "apiVersion: v1\nkind: Secret\nmetadata:\n  name: agentrun-v01-postgres\n  namespace: agentrun-v01\nstringData:\n  DATABASE_URL: {value}\n"
            ),
        )
        .unwrap();
    });
    let run = verify(&repos, &[]);
    run.assert_code(1);
    let doc: VerifyReport = run.report();
    let c = check(&doc, "gitops.no-secrets");
    assert_eq!(c.status, Status::Fail);
    let msg = &c.message;
    assert!(msg.contains("a Secret object"), "{msg}");
    assert!(msg.contains("URL with user:password"), "{msg}");
    assert!(
        !run.stdout.contains("hunter2"),
        "secret value leaked: {}",
        run.stdout
    );
    assert!(!run.stderr.contains("hunter2"));
    // An extra file is drift too, named as only on the branch.
    assert_eq!(
        check(&doc, "gitops.drift").evidence["onlyInBranch"],
        serde_json::json!(["secret-postgres.yaml"])
    );
}

#[test]
fn a_catalog_of_another_lane_fails_and_skips_what_needs_it() {
    let mut repos = LaneRepos::new();
    let mut other = repos.catalog.clone();
    other["lane"] = "v0.2".into();
    other["sourceBranch"] = "v0.2".into();
    other["gitopsBranch"] = "v0.2-gitops".into();
    repos.gitops_commit(|dir| {
        std::fs::write(
            dir.join(CATALOG_PATH),
            serde_json::to_string_pretty(&other).unwrap(),
        )
        .unwrap();
    });
    let run = verify(&repos, &[]);
    run.assert_code(1);
    let doc: VerifyReport = run.report();
    let c = check(&doc, "gitops.catalog");
    assert_eq!(c.status, Status::Fail);
    let findings: Vec<Finding> =
        serde_json::from_value(c.evidence["findings"].clone()).expect("findings");
    let rules: Vec<&str> = findings.iter().map(|f| f.rule.as_ref()).collect();
    assert!(rules.contains(&"lane-mismatch"), "{c:#?}");
    assert_eq!(status(&doc, "gitops.drift"), Status::Skip);
}

#[test]
fn a_catalog_for_another_commit_fails() {
    let repos = LaneRepos::new();
    // A newer source commit that was never promoted.
    repos.source.write("README.md", "newer\n");
    let newer = repos.source.commit("newer");
    run_git(repos.source.path(), &["push", "-q", "origin", "v0.1"]);
    run_git(repos.source.path(), &["fetch", "-q", "origin"]);
    let run = verify(&repos, &["--commit", &newer]);
    run.assert_code(1);
    let doc: VerifyReport = run.report();
    let c = check(&doc, "gitops.catalog");
    assert_eq!(c.status, Status::Fail);
    assert!(c.message.contains(&repos.commit));
    // The drift check renders at the catalog's own source commit and still passes.
    assert_eq!(status(&doc, "gitops.drift"), Status::Pass);
}

#[test]
fn a_tracked_catalog_on_the_source_branch_fails() {
    let repos = LaneRepos::new();
    repos.source.write(
        CATALOG_PATH,
        &serde_json::to_string_pretty(&repos.catalog).unwrap(),
    );
    repos.source.write(
        &format!("{RUNTIME_PATH}/deployment-agentrun-mgr.yaml"),
        "kind: Deployment\n",
    );
    let c2 = repos.source.commit("oops: generated state");
    run_git(repos.source.path(), &["push", "-q", "origin", "v0.1"]);
    run_git(repos.source.path(), &["fetch", "-q", "origin"]);
    let run = verify(&repos, &["--commit", &c2, "--only", "source"]);
    run.assert_code(1);
    let doc: VerifyReport = run.report();
    let c = check(&doc, "source.untracked-generated");
    assert_eq!(c.status, Status::Fail);
    let found = c.evidence["found"].to_string();
    assert!(found.contains(CATALOG_PATH), "{found}");
    assert!(
        found.contains("runtime-v01/deployment-agentrun-mgr.yaml"),
        "{found}"
    );
    // The worktree is clean and at origin: only the generated state is wrong.
    assert_eq!(status(&doc, "source.clean"), Status::Pass);
}

#[test]
fn docs_naming_the_old_lanes_as_a_target_fail() {
    let repos = LaneRepos::new();
    repos.source.write(
        "docs/reference/deploy.md",
        "# Deploy\n\nThe Argo destination is agentrun_prod.\n\n## History\n\nagentrun_dev was the dev lane.\n",
    );
    let c2 = repos.source.commit("docs");
    run_git(repos.source.path(), &["push", "-q", "origin", "v0.1"]);
    run_git(repos.source.path(), &["fetch", "-q", "origin"]);
    let run = verify(&repos, &["--commit", &c2, "--only", "source"]);
    run.assert_code(1);
    let doc: VerifyReport = run.report();
    let c = check(&doc, "source.legacy-targets");
    assert_eq!(c.status, Status::Fail);
    let problems = c.evidence["problems"].as_array().unwrap();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0]
        .as_str()
        .unwrap()
        .starts_with("docs/reference/deploy.md:3:"));
}

#[test]
fn a_dirty_worktree_or_one_behind_origin_fails_clean() {
    let repos = LaneRepos::new();
    repos.source.write("scratch.txt", "local\n");
    let run = verify(&repos, &["--only", "source"]);
    run.assert_code(1);
    let doc: VerifyReport = run.report();
    let c = check(&doc, "source.clean");
    assert_eq!(c.status, Status::Fail);
    assert!(c.evidence["changes"].to_string().contains("scratch.txt"));
    std::fs::remove_file(repos.source.path().join("scratch.txt")).unwrap();

    // A local commit not pushed: HEAD is ahead of origin/v0.1.
    repos.source.write("README.md", "local only\n");
    let local = repos.source.commit("local");
    let run = verify(&repos, &["--only", "source", "--commit", &local]);
    run.assert_code(1);
    let doc: VerifyReport = run.report();
    assert!(check(&doc, "source.clean")
        .message
        .contains("refs/remotes/origin/v0.1"));
}

#[test]
fn a_bare_repository_skips_clean_with_a_reason() {
    let repos = LaneRepos::new();
    let remote = repos.remote.1.display().to_string();
    let run = common::lane(
        repos.source.path(),
        &[
            "verify",
            "--only",
            "source",
            "--repo",
            &remote,
            "--commit",
            &repos.commit,
        ],
    );
    run.assert_code(0);
    let doc: VerifyReport = run.report();
    let c = check(&doc, "source.clean");
    assert_eq!(c.status, Status::Skip);
    assert!(c.message.contains("bare repository"));
}

#[test]
fn an_invalid_deploy_json_at_the_commit_fails_and_skips_the_rest() {
    let repos = LaneRepos::new();
    let mut d: Value = serde_json::from_str(
        &std::fs::read_to_string(repos.source.path().join("deploy/deploy.json")).unwrap(),
    )
    .unwrap();
    d["services"][0]["image"] = "127.0.0.1:5000/agentrun/agentrun-mgr:latest".into();
    repos.source.write(
        "deploy/deploy.json",
        &serde_json::to_string_pretty(&d).unwrap(),
    );
    let c2 = repos.source.commit("bad intent");
    let run = verify(&repos, &["--commit", &c2]);
    run.assert_code(1);
    let doc: VerifyReport = run.report();
    let c = check(&doc, "source.deploy-json");
    assert_eq!(c.status, Status::Fail);
    let findings: Vec<Finding> =
        serde_json::from_value(c.evidence["findings"].clone()).expect("findings");
    assert!(!findings.is_empty());
    assert_eq!(status(&doc, "gitops"), Status::Skip);
}

#[test]
fn static_groups_need_no_cluster_and_groups_can_be_skipped() {
    let repos = LaneRepos::new();
    // No kubeconfig anywhere: static must not try to reach a cluster.
    let repo = repos.repo_arg();
    let run = common::lane_env(
        repos.source.path(),
        &[
            "verify",
            "--skip",
            "live,argo,tekton,source",
            "--repo",
            &repo,
        ],
        &[("KUBECONFIG", "/nonexistent"), ("HOME", "/nonexistent")],
    );
    run.assert_code(0);
    let doc: VerifyReport = run.report();
    assert_eq!(doc.groups, [Group::Gitops]);
    // A cluster group without any API configuration is an environment error (exit 3).
    let run = common::lane_env(
        repos.source.path(),
        &["verify", "--only", "argo", "--repo", &repo],
        &[("KUBECONFIG", "/nonexistent"), ("HOME", "/nonexistent")],
    );
    run.assert_code(3);
    assert!(run
        .error()
        .error
        .hint
        .as_deref()
        .unwrap()
        .contains("--only static"));
}

// ---------------------------------------------------------------------------------------
// The shipped verify RBAC, docs/verify.md and the AppProject agree (issue 20 §2).

fn shipped_yaml(path: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(common::repo_root().join(path)).unwrap();
    serde_saphyr::from_multiple::<Value>(&text)
        .unwrap()
        .into_iter()
        .filter(|d| d.get("kind").is_some())
        .collect()
}

/// (namespace scope, group, resource, verb) of every permission of the verify identity.
fn granted() -> std::collections::BTreeSet<(String, String, String)> {
    let rbac = common::kube::shipped_verify_rbac();
    let mut out = std::collections::BTreeSet::new();
    for r in rbac["rules"].as_array().unwrap() {
        for g in r["apiGroups"].as_array().unwrap() {
            for res in r["resources"].as_array().unwrap() {
                for v in r["verbs"].as_array().unwrap() {
                    out.insert((
                        g.as_str().unwrap().to_string(),
                        res.as_str().unwrap().to_string(),
                        v.as_str().unwrap().to_string(),
                    ));
                }
            }
        }
    }
    out
}

#[test]
fn docs_list_every_permission_of_the_verify_identity_with_its_reason() {
    let docs = std::fs::read_to_string(common::repo_root().join("docs/verify.md")).unwrap();
    let section = docs
        .split("## Permissions")
        .nth(1)
        .expect("docs/verify.md has a Permissions section");
    let section = section.split("\n## ").next().unwrap();
    let mut listed = std::collections::BTreeSet::new();
    for row in section
        .lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| where"))
    {
        let cols: Vec<&str> = row.trim_matches('|').split('|').map(str::trim).collect();
        if cols.len() < 5 || cols[0].starts_with("---") {
            continue;
        }
        let unquote = |s: &str| s.trim().trim_matches('`').replace("\"\"", "");
        assert!(!cols[4].is_empty(), "no reason given: {row}");
        for res in cols[2].split(',') {
            for verb in cols[3].split(',') {
                listed.insert((unquote(cols[1]), unquote(res), verb.trim().to_string()));
            }
        }
    }
    assert_eq!(listed, granted(), "docs/verify.md vs pipelines/rbac.yaml");
    // What the real cluster refused to the shipped identity (issue 20) is granted.
    for (g, r) in [
        ("rbac.authorization.k8s.io", "roles"),
        ("rbac.authorization.k8s.io", "rolebindings"),
    ] {
        assert!(
            granted().contains(&(g.into(), r.into(), "get".into())),
            "{r}"
        );
    }
    assert!(granted().contains(&("argoproj.io".into(), "applications".into(), "patch".into())));
}

#[test]
fn the_appproject_ignores_exactly_the_verify_rbac_and_the_operator_secrets() {
    let proj = shipped_yaml("gitops/appproject.yaml").remove(0);
    assert_eq!(proj["spec"]["orphanedResources"]["warn"], true);
    let ignored: std::collections::BTreeSet<(String, String, String)> = proj["spec"]
        ["orphanedResources"]["ignore"]
        .as_array()
        .expect("orphanedResources.ignore")
        .iter()
        .map(|k| {
            (
                k["group"].as_str().unwrap().to_string(),
                k["kind"].as_str().unwrap().to_string(),
                k["name"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    // Every object the Tekton tree puts into the lane namespace: the Application does not own
    // them, so Argo CD would warn about each.
    let mut want = std::collections::BTreeSet::new();
    for d in shipped_yaml("pipelines/rbac.yaml") {
        if d["metadata"]["namespace"] == "agentrun-v01" {
            let group = d["apiVersion"]
                .as_str()
                .unwrap()
                .rsplit_once('/')
                .map(|(g, _)| g.to_string())
                .unwrap_or_default();
            want.insert((
                group,
                d["kind"].as_str().unwrap().to_string(),
                d["metadata"]["name"].as_str().unwrap().to_string(),
            ));
        }
    }
    assert_eq!(want.len(), 2, "{want:?}");
    // The Secrets deploy.json names but lane never renders.
    for s in ["agentrun-v01-postgres", "agentrun-v01-codex"] {
        want.insert(("".into(), "Secret".into(), s.into()));
    }
    assert_eq!(ignored, want);
}
