//! The shipped Tekton Tasks, Pipeline, Triggers and RBAC on the real cluster
//! (`scripts/cluster.sh` + `scripts/cluster-tekton.sh`: Tekton Pipelines v1.15.0, Triggers
//! v0.37.0): `cluster/tekton/pipeline-run.sh` releases a lane through a real PipelineRun
//! (prepare-source → validate → plan → build-publish with buildah in a pod → publish → promote
//! → verify), then through a GitHub-signed push webhook to the real EventListener; after each
//! run `lane verify` judges all five groups from outside, tekton included; a late run of the
//! older commit is superseded and changes nothing; an invalid deploy.json stops a run in
//! validate, before any build. Runs only
//! when `LANE_CLUSTER_KUBECONFIG` is set (`eval "$(scripts/cluster.sh env)"`); otherwise it
//! prints that it skipped and passes.
//!
//! Self-contained (no `mod common`): std and serde_json only.

use serde_json::Value;
use std::path::PathBuf;
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Tekton on the cluster: `scripts/cluster-tekton.sh up` when its status is not ready (a
/// cold build takes minutes; a warm `up` about 15 s).
fn tekton_up() {
    let status = Command::new(root().join("scripts/cluster-tekton.sh"))
        .arg("status")
        .output()
        .unwrap();
    if status.status.success() {
        return;
    }
    let up = Command::new(root().join("scripts/cluster-tekton.sh"))
        .arg("up")
        .output()
        .unwrap();
    assert!(
        up.status.success(),
        "scripts/cluster-tekton.sh up failed:\n{}",
        String::from_utf8_lossy(&up.stderr)
    );
}

fn tasks_of(run: &Value) -> Vec<(String, String)> {
    let mut t: Vec<(String, String)> = run["taskRuns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["task"].as_str().unwrap().to_string(),
                t["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    t.sort();
    t
}

fn counts(run: &Value) -> Value {
    serde_json::from_str(run["results"]["counts"].as_str().unwrap()).unwrap()
}

/// The digests build-publish recorded, by image repository.
fn built(run: &Value) -> Vec<(String, String)> {
    run["taskRuns"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["task"] == "build-publish")
        .map(|t| {
            let url = t["results"]["IMAGE_URL"].as_str().unwrap();
            let repo = url.rsplit_once(':').unwrap().0.to_string();
            (
                repo,
                t["results"]["IMAGE_DIGEST"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn running_image_ids(run: &Value) -> Vec<String> {
    run["pods"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["imageIDs"].as_array().unwrap().clone())
        .map(|i| i.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn a_release_runs_through_the_real_pipeline_and_a_signed_webhook() {
    if std::env::var("LANE_CLUSTER_KUBECONFIG").is_err() {
        eprintln!("tekton_cluster: skipped (LANE_CLUSTER_KUBECONFIG unset; run scripts/cluster.sh up and eval \"$(scripts/cluster.sh env)\")");
        return;
    }
    let registry = std::env::var("LANE_CLUSTER_REGISTRY").expect("LANE_CLUSTER_REGISTRY");
    tekton_up();
    let out = Command::new(root().join("cluster/tekton/pipeline-run.sh"))
        .env("LANE_BIN", env!("CARGO_BIN_EXE_lane"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "pipeline-run.sh failed:\n{stdout}\n{stderr}"
    );
    eprintln!(
        "{}",
        stderr
            .lines()
            .filter(|l| l.starts_with("pipeline-run:") || l.starts_with("  "))
            .collect::<Vec<_>>()
            .join("\n")
    );
    let report: Value = serde_json::from_str(stdout.trim()).expect("one JSON document");
    let runs = report["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 4, "{report}");

    // Run 1, created by hand (init): every Task of the shipped Pipeline, both services built.
    let first = &runs[0];
    assert_eq!(first["succeeded"], true, "{first}");
    let ok = |t: &str| (t.to_string(), "Succeeded".to_string());
    assert_eq!(
        tasks_of(first),
        vec![
            ok("build-publish"),
            ok("build-publish"),
            ok("plan"),
            ok("prepare-source"),
            ok("promote"),
            ok("validate"),
            ok("verify"),
        ]
    );
    assert_eq!(first["results"]["promotion"], "committed");
    assert_eq!(counts(first)["affected"], 2);
    let b1 = built(first);
    assert_eq!(b1.len(), 2);
    for (repo, digest) in &b1 {
        assert!(repo.starts_with(&format!("{registry}/")), "{repo}");
        assert!(digest.starts_with("sha256:"), "{digest}");
    }
    // verify passed inside the run; the Deployment runs the digest build-publish recorded.
    let mgr1 = b1.iter().find(|(r, _)| r.ends_with("/tkrun-mgr")).unwrap();
    assert!(
        running_image_ids(first).contains(&format!("{}@{}", mgr1.0, mgr1.1)),
        "{first}"
    );

    // Run 2, started by a GitHub-signed push through the EventListener (the generated
    // TriggerTemplate's run): one service changed, built; the other reused.
    let hook = &report["webhook"];
    assert_eq!(
        hook["runsAfterNegatives"], hook["runsBefore"],
        "a bad signature or another branch started a run: {hook}"
    );
    assert_eq!(
        hook["runsAfterAll"].as_u64().unwrap(),
        hook["runsBefore"].as_u64().unwrap() + 1,
        "the redelivered webhook started a second run: {hook}"
    );
    let second = &runs[1];
    assert_eq!(second["pipelineRun"], hook["pipelineRun"]);
    assert_eq!(second["succeeded"], true, "{second}");
    assert_eq!(
        second["hostNetwork"], true,
        "the TriggerTemplate's spec as generated"
    );
    assert_eq!(second["results"]["commit"], hook["commit"]);
    assert_eq!(second["results"]["promotion"], "committed");
    let c = counts(second);
    assert_eq!(
        (c["affected"].as_u64(), c["reused"].as_u64()),
        (Some(1), Some(1)),
        "{c}"
    );
    let b2 = built(second);
    assert_eq!(b2.len(), 1, "{second}");
    assert!(b2[0].0.ends_with("/tkrun-mgr"));
    assert_ne!(b2[0].1, mgr1.1, "a new digest for the changed service");
    assert!(
        running_image_ids(second).contains(&format!("{}@{}", b2[0].0, b2[0].1)),
        "{second}"
    );

    // `lane verify` from outside each finished run: all five groups, tekton included, with
    // the token of the identity pipelines/rbac.yaml ships.
    for run in &runs[..2] {
        let v = &run["verify"];
        assert_eq!(v["exit"], 0, "{}: {v}", run["pipelineRun"]);
        assert_eq!(
            v["groups"],
            serde_json::json!(["live", "argo", "gitops", "tekton", "source"]),
            "{v}"
        );
        for id in [
            "tekton.pipelinerun",
            "tekton.digests",
            "argo.revision",
            "live.images",
        ] {
            assert_eq!(v["status"][id], "pass", "{}: {id}: {v}", run["pipelineRun"]);
        }
    }

    // Run 3, a late run of the older commit (by hand): promote keeps the newer release
    // (superseded), verify is skipped, the run succeeds, nothing is rolled back.
    let late = &runs[2];
    assert_eq!(late["succeeded"], true, "{late}");
    assert_eq!(late["results"]["promotion"], "superseded", "{late}");
    assert_eq!(late["results"]["commit"], first["results"]["commit"]);
    assert!(
        !tasks_of(late).iter().any(|(t, _)| t == "verify"),
        "verify ran for a superseded run: {late}"
    );
    assert_eq!(hook["gitopsBeforeLate"], hook["gitopsAfterLate"], "{hook}");
    assert!(
        running_image_ids(late).contains(&format!("{}@{}", b2[0].0, b2[0].1)),
        "the late run rolled the Deployment back: {late}"
    );

    // Run 4, a commit whose deploy.json lane rejects: validate fails, nothing is built or
    // promoted.
    let invalid = &runs[3];
    assert_eq!(invalid["succeeded"], false, "{invalid}");
    let t4 = tasks_of(invalid);
    assert!(
        t4.iter().any(|(t, r)| t == "validate" && r != "Succeeded"),
        "{t4:?}"
    );
    assert!(
        !t4.iter()
            .any(|(t, _)| t == "plan" || t == "build-publish" || t == "promote"),
        "{t4:?}"
    );
    assert_eq!(
        hook["gitopsBeforeInvalid"], hook["gitopsAfterInvalid"],
        "{hook}"
    );

    // Containment: every image any run's pods named is in the cluster registry.
    for run in runs {
        for image in run["images"].as_array().unwrap() {
            let image = image.as_str().unwrap();
            assert!(
                image.starts_with(&format!("{registry}/")),
                "{} named {image}",
                run["pipelineRun"]
            );
        }
    }
}
