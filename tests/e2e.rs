//! The README's main command, `scripts/e2e.sh`, run whole: git daemon, registry, buildah
//! images, plan → publish → promote → render --no-write → verify, twice.

mod common;

use std::process::Command;

use lane::model::catalog::{CatalogDoc, EntryStatus};
use lane::model::publish::{PublishResult, PublishedImage};
use lane::verify::{Status, VerifyReport};
use serde_json::Value;

fn validators_pass(dir: &std::path::Path) {
    let kv = common::tools::require("kubernetes-validate");
    let files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap() != "kustomization.yaml")
        .collect();
    assert!(
        files.len() > 5,
        "runtime tree has only {} files",
        files.len()
    );
    let out = Command::new(kv)
        .args(["--strict", "-k", "1.30.0"])
        .args(&files)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "kubernetes-validate: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let out = Command::new(common::tools::require("kubectl"))
        .arg("kustomize")
        .arg(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "kubectl kustomize: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_lane_end_to_end_rebuilds_only_the_changed_service() {
    common::tools::require("buildah");
    common::tools::require("docker-registry");
    let work = common::tempdir();
    // With the suite's cluster up (scripts/test.sh), the CD half runs on it too.
    let cluster = std::env::var_os("LANE_CLUSTER_KUBECONFIG").is_some();
    let mut cmd = Command::new(common::repo_root().join("scripts/e2e.sh"));
    cmd.arg("--workdir")
        .arg(work.path())
        .env("LANE_BIN", common::lane_bin());
    if cluster {
        // The git daemon stays up for the negative case below; the guard stops it.
        cmd.arg("--keep-running");
    } else {
        eprintln!("e2e: no cluster (LANE_CLUSTER_KUBECONFIG unset): the CI half only");
        cmd.arg("--no-cluster");
    }
    let _stop = StopKept(work.path().join("pids"));
    let out = cmd.output().expect("run scripts/e2e.sh");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "e2e failed\nstdout:\n{stdout}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The step-by-step story a user reads.
    for line in [
        "plan: agentrun-mgr=affected, agentrun-runner=affected",
        "plan: agentrun-mgr=affected, agentrun-runner=reused",
        "render --no-write: no changes",
        "verify --only static: 8 passed, 0 failed",
    ] {
        assert!(stdout.contains(line), "missing '{line}' in:\n{stdout}");
    }
    // summary.json is scripts/e2e.sh's own record, not a lane document: it stays raw.
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(work.path().join("summary.json")).unwrap()).unwrap();
    let runs = summary["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[0]["decisions"]["agentrun-mgr"], "affected");
    assert_eq!(runs[0]["decisions"]["agentrun-runner"], "affected");
    assert_eq!(runs[1]["decisions"]["agentrun-mgr"], "affected");
    assert_eq!(runs[1]["decisions"]["agentrun-runner"], "reused");
    if cluster {
        // Run 2: a GitHub-signed push to the EventListener started the shipped Pipeline: every Task
        // ran for real, one service built (IMAGES, the Chains type hint), the other reused.
        assert!(runs[1]["pipelineRun"]
            .as_str()
            .unwrap()
            .starts_with("agentrun-v01-ci-"));
        assert_eq!(runs[1]["counts"]["affected"], 1, "{}", runs[1]);
        assert_eq!(runs[1]["counts"]["reused"], 1, "{}", runs[1]);
        let images = runs[1]["images"].as_array().unwrap();
        assert_eq!(images.len(), 1, "{}", runs[1]);
        assert!(images[0]
            .as_str()
            .unwrap()
            .contains("/agentrun-mgr@sha256:"));
        for task in [
            "prepare-source",
            "validate",
            "plan",
            "build-publish",
            "promote",
            "verify",
        ] {
            let line = format!("TaskRun {task:16} Succeeded");
            assert!(stdout.contains(&line), "missing '{line}' in:\n{stdout}");
        }
    }
    for r in runs {
        assert_eq!(r["outcome"], "committed");
        if r.get("pipelineRun").is_none() {
            assert_eq!(r["verify"], true);
        }
        // On the cluster: Argo CD synced, the pods run lane's images, verify passed live,
        // argo, gitops and source with the shipped verify identity.
        if cluster {
            assert_eq!(r["verifyLive"], true, "{r}");
        }
    }
    if cluster {
        assert_eq!(
            stdout
                .matches("verify live,argo,gitops,source: 22 passed, 0 failed")
                .count(),
            1,
            "{stdout}"
        );
        // The webhook's run is judged on its Tekton evidence too: all five groups.
        assert!(
            stdout.contains("verify live,argo,gitops,tekton,source: ")
                && stdout.contains("passed, 0 failed"),
            "{stdout}"
        );
    }
    // The GitOps branch holds exactly the two release commits, each tree valid.
    let gitops = work.path().join("gitops-checkout");
    let log = common::gitrepo::git(&gitops, &["log", "--format=%H", "v0.1-gitops"]);
    let commits: Vec<&str> = log.lines().collect();
    assert_eq!(commits.len(), 2, "{log}");
    assert_eq!(commits[0], runs[1]["gitopsCommit"]);
    assert_eq!(commits[1], runs[0]["gitopsCommit"]);
    for c in commits.iter().rev() {
        common::gitrepo::git(&gitops, &["checkout", "-q", c]);
        validators_pass(&gitops.join("deploy/gitops/g14/runtime-v01"));
    }
    // The newest tree is checked out last. Run 2 replaced mgr's image and kept runner's.
    let catalog: CatalogDoc = serde_json::from_slice(
        &std::fs::read(gitops.join("deploy/artifact-catalog.v01.json")).unwrap(),
    )
    .unwrap();
    let c1 = runs[0]["commit"].as_str().unwrap();
    let c2 = runs[1]["commit"].as_str().unwrap();
    let runner = &catalog.services["agentrun-runner"];
    assert_eq!(runner.status, EntryStatus::Reused);
    assert_eq!(runner.tag, c1);
    let mgr = &catalog.services["agentrun-mgr"];
    assert_eq!(mgr.status, EntryStatus::Published);
    assert_eq!(mgr.tag, c2);
    assert_eq!(catalog.source_commit.as_str(), c2);
    if cluster {
        pods_on_the_previous_digest_are_not_the_release(work.path(), &summary);
    }
}

/// Stops what `scripts/e2e.sh --keep-running` left running (its pid file).
struct StopKept(std::path::PathBuf);

impl Drop for StopKept {
    fn drop(&mut self) {
        if let Ok(pids) = std::fs::read_to_string(&self.0) {
            for pid in pids.split_whitespace() {
                let _ = Command::new("kill").arg(pid).status();
            }
        }
    }
}

fn kubectl(args: &[&str]) -> common::Run {
    let bin = std::path::Path::new(&std::env::var("LANE_CLUSTER_BIN").unwrap()).join("kubectl");
    Command::new(bin)
        .arg("--kubeconfig")
        .arg(std::env::var("LANE_CLUSTER_KUBECONFIG").unwrap())
        .args(args)
        .output()
        .unwrap()
        .into()
}

/// On the real cluster, after the e2e's two releases: with Argo CD's automated sync off, a
/// third release is promoted but never applied. The pods are Ready — on the previous release's
/// digest — and verify says the release is not live (exit 1), naming the digests. With the
/// shipped Application back, Argo CD rolls it out and verify passes.
fn pods_on_the_previous_digest_are_not_the_release(work: &std::path::Path, summary: &Value) {
    let app = "agentrun-g14-v01";
    let off = kubectl(&[
        "-n",
        "argocd",
        "patch",
        "application",
        app,
        "--type",
        "json",
        "-p",
        r#"[{"op":"remove","path":"/spec/syncPolicy/automated"}]"#,
    ]);
    assert_eq!(off.code, 0, "{}", off.stderr);
    let src = std::path::Path::new(summary["source"].as_str().unwrap());
    let remote = summary["remote"].as_str().unwrap();
    let app_ts = src.join("apps/mgr/src/app.ts");
    let mut text = std::fs::read_to_string(&app_ts).unwrap();
    text.push_str("// release 3\n");
    std::fs::write(&app_ts, text).unwrap();
    common::gitrepo::git(src, &["commit", "-q", "-am", "mgr: release 3"]);
    common::gitrepo::git(src, &["push", "-q", "origin", "v0.1"]);
    let c3 = common::gitrepo::git(src, &["rev-parse", "HEAD"])
        .trim()
        .to_string();
    // Release 3 names run 1's manager image (already in the registry: no build needed).
    let image = |run: u32, service: &str| -> PublishedImage {
        let doc: PublishResult = serde_json::from_slice(
            &std::fs::read(work.join(format!("run-{run}/publish/publish.json"))).unwrap(),
        )
        .unwrap();
        doc.images
            .into_iter()
            .find(|i| i.service == service)
            .unwrap()
    };
    let mut mgr = image(1, "agentrun-mgr");
    let live_digest = image(2, "agentrun-mgr").digest;
    mgr.tag = c3.clone();
    let publish = work.join("publish-3.json");
    std::fs::write(
        &publish,
        serde_json::to_string(&PublishResult {
            schema_version: 1,
            lane: "v0.1".into(),
            source_commit: lane::model::Commit::try_from(c3.as_str()).unwrap(),
            images: vec![mgr.clone(), image(2, "agentrun-runner")],
        })
        .unwrap(),
    )
    .unwrap();
    let p = publish.display().to_string();
    let s = src.display().to_string();
    common::lane(
        src,
        &[
            "promote",
            "--repo",
            &s,
            "--commit",
            &c3,
            "--gitops-remote",
            remote,
            "--publish",
            &p,
        ],
    )
    .assert_code(0);
    let api = std::env::var("LANE_CLUSTER_API_SERVER").unwrap();
    let ca = std::env::var("LANE_CLUSTER_CA_FILE").unwrap();
    let token = work.join("verify-token").display().to_string();
    let verify = |wait: &str| {
        common::lane(
            src,
            &[
                "verify",
                "--repo",
                &s,
                "--commit",
                &c3,
                "--gitops-remote",
                remote,
                "--only",
                "live,argo",
                "--wait",
                wait,
                "--api-server",
                &api,
                "--ca-file",
                &ca,
                "--token-file",
                &token,
            ],
        )
    };
    let run = verify("20s");
    run.assert_code(1);
    let doc: VerifyReport = run.report();
    let images = doc
        .checks
        .iter()
        .find(|c| c.id == "live.images")
        .unwrap_or_else(|| panic!("no live.images check: {doc:#?}"));
    assert_eq!(images.status, Status::Fail, "{doc:#?}");
    // The whole check as JSON (message and free-form evidence) names both digests.
    let evidence = serde_json::to_string(images).unwrap();
    assert!(
        evidence.contains(live_digest.as_str()),
        "the running (previous) digest is named: {images:#?}"
    );
    assert!(
        evidence.contains(mgr.digest.as_str()),
        "the release's digest is named: {images:#?}"
    );
    // The shipped Application back: Argo CD rolls release 3 out and verify passes.
    let generated = work.join("generated/gitops/application.yaml");
    let on = kubectl(&["apply", "-f", generated.to_str().unwrap()]);
    assert_eq!(on.code, 0, "{}", on.stderr);
    let run = verify("180s");
    run.assert_code(0);
}
