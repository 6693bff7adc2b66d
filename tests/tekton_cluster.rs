//! The shipped Tekton Tasks, Pipeline, Triggers and RBAC on the real cluster
//! (`scripts/cluster.sh` + `scripts/cluster-tekton.sh`: Tekton Pipelines v1.15.0, Triggers
//! v0.37.0): `cluster/tekton/pipeline-run.sh` releases a lane through a real PipelineRun
//! (prepare-source → validate → plan → build-publish with buildah in a pod → publish → promote
//! → verify), then through a GitHub-signed push webhook to the real EventListener; after each
//! run `lane verify` judges all five groups from outside, tekton included; a late run of the
//! older commit is superseded and changes nothing; an invalid deploy.json stops a run in
//! validate, before any build. The runs carry Tekton Chains' type hints, run in the CI
//! namespace as generated (Pod Security `privileged`; `baseline` refuses the build pod), and
//! the generated pruner deletes the older finished runs with their PVCs. A second test releases
//! a lane of 10 services through chunked matrices with Tekton's matrix cap lowered to 4. Runs only
//! when `LANE_CLUSTER_KUBECONFIG` is set (`eval "$(scripts/cluster.sh env)"`); otherwise it
//! prints that it skipped and passes.
//!
//! Self-contained (no `mod common`): std, serde_json and lane's own document types only.

use lane::output::Document;
use lane::prune::PruneReport;
use serde_json::Value;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Mutex;

/// One real release at a time: the node has 2 cores, and the large lane lowers Tekton's
/// cluster-wide matrix cap while it runs.
static ONE_RUN: Mutex<()> = Mutex::new(());

fn cluster_or_skip() -> Option<String> {
    if std::env::var("LANE_CLUSTER_KUBECONFIG").is_err() {
        eprintln!("tekton_cluster: skipped (LANE_CLUSTER_KUBECONFIG unset; run scripts/cluster.sh up and eval \"$(scripts/cluster.sh env)\")");
        return None;
    }
    Some(std::env::var("LANE_CLUSTER_REGISTRY").expect("LANE_CLUSTER_REGISTRY"))
}

/// `cluster/tekton/pipeline-run.sh` with `env`: its one JSON document (asserting it succeeded).
fn pipeline_run(env: &[(&str, &str)]) -> Value {
    let mut cmd = Command::new(root().join("cluster/tekton/pipeline-run.sh"));
    cmd.env("LANE_BIN", env!("CARGO_BIN_EXE_lane"));
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
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
    serde_json::from_str(stdout.trim()).expect("one JSON document")
}

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
        .filter(|t| t["task"].as_str().unwrap().starts_with("build-publish"))
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
    let Some(registry) = cluster_or_skip() else {
        return;
    };
    let _one = ONE_RUN.lock().unwrap_or_else(|e| e.into_inner());
    tekton_up();
    let report = pipeline_run(&[]);
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

    // Tekton Chains' type hints on the real PipelineRun (Chains itself is not installed: this
    // is the shape it reads): the source it checked out, and the images it built by digest.
    let r1 = &first["results"];
    assert_eq!(r1["CHAINS-GIT_URL"], report["remote"], "{r1}");
    assert_eq!(r1["CHAINS-GIT_COMMIT"], r1["commit"], "{r1}");
    assert_eq!(r1["CHAINS-GIT_COMMIT"].as_str().unwrap().len(), 40);
    let mut subjects: Vec<String> = r1["IMAGES"]
        .as_str()
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    subjects.sort();
    let mut want: Vec<String> = b1.iter().map(|(r, d)| format!("{r}@{d}")).collect();
    want.sort();
    assert_eq!(subjects, want, "IMAGES lists what build-publish pushed");
    let prep = first["taskRuns"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["task"] == "prepare-source")
        .unwrap();
    assert_eq!(prep["results"]["CHAINS-GIT_URL"], report["remote"]);
    assert_eq!(prep["results"]["CHAINS-GIT_COMMIT"], r1["commit"]);

    // Pod Security: the CI namespace (pipelines/namespace.yaml) enforces `privileged`, the
    // level the build step needs — every run here ran under it; the API server refuses the
    // very build pod in a namespace that enforces `baseline`.
    let psa = &report["podSecurity"];
    assert_eq!(
        psa["ciLabels"]["pod-security.kubernetes.io/enforce"], "privileged",
        "{psa}"
    );
    assert_eq!(psa["ci"]["exit"], 0, "{psa}");
    assert_ne!(psa["baseline"]["exit"], 0, "{psa}");
    let refused = psa["baseline"]["output"].as_str().unwrap();
    assert!(
        refused.contains("violates PodSecurity \"baseline:latest\"")
            && refused.contains("seccompProfile"),
        "{refused}"
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

    // Pruning: the generated CronJob's Job (`lane prune` in the task image, keep 2) deleted
    // the older finished runs, and the garbage collector their per-run PVCs; the two newest
    // finished runs and their PVCs stay, and so does the pending run (never finished).
    let prune = &hook["prune"];
    // The script's record stays raw; the lane prune document in it is read typed.
    let prune_doc: Document<PruneReport> =
        serde_json::from_value(prune["report"].clone()).unwrap_or_else(|e| panic!("{e}: {prune}"));
    assert!(prune_doc.ok, "{prune}");
    assert!(
        prune["image"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{registry}/")),
        "{prune}"
    );
    let before = prune["before"].as_object().unwrap();
    let after = prune["after"].as_object().unwrap();
    let mut finished: Vec<(&String, &str)> = before
        .iter()
        .filter_map(|(n, r)| r["completionTime"].as_str().map(|t| (n, t)))
        .collect();
    finished.sort_by(|a, b| b.1.cmp(a.1));
    assert_eq!(finished.len(), 4, "{prune}");
    let pvcs_after: Vec<&str> = prune["pvcsAfter"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    for (name, _) in &finished[..2] {
        assert!(after.contains_key(*name), "kept {name}: {prune}");
        let pvcs = before[*name]["pvcs"].as_array().unwrap();
        assert_eq!(pvcs.len(), 1, "{name}'s per-run PVC: {prune}");
        assert!(pvcs_after.contains(&pvcs[0].as_str().unwrap()), "{prune}");
    }
    let mut deleted = Vec::new();
    for (name, _) in &finished[2..] {
        assert!(!after.contains_key(*name), "not pruned: {name}: {prune}");
        let pvcs = before[*name]["pvcs"].as_array().unwrap();
        assert_eq!(pvcs.len(), 1, "{name}'s per-run PVC: {prune}");
        assert!(
            !pvcs_after.contains(&pvcs[0].as_str().unwrap()),
            "{name}'s PVC outlived it: {prune}"
        );
        deleted.push(name.to_string());
    }
    let (pending, _) = before
        .iter()
        .find(|(_, r)| r["pending"] == true)
        .expect("the pending run");
    assert!(after.contains_key(pending), "the pending run was deleted");
    assert_eq!(prune_doc.report.unfinished, [pending.as_str()]);
    let mut reported: Vec<String> = prune_doc.report.deleted.clone();
    reported.sort();
    deleted.sort();
    assert_eq!(reported, deleted);

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

/// A lane with more buildable services than Tekton's matrix cap still releases through the
/// shipped Pipeline: with the cluster's cap lowered to 4 (`config-defaults`
/// `default-max-matrix-combinations-count`, restored afterwards) and `lane generate
/// --max-matrix 4`, a lane of 10 services is built by three matrices (4 + 4 + 2), promoted
/// once and verified. (Tekton v1.15.0 counts a matrix against the cap when it validates the
/// Pipeline, from literal or param arrays; a matrix fed by task results is not counted again
/// once they resolve, so there the one-matrix Pipeline also ran — docs/tekton.md.)
#[test]
fn a_lane_larger_than_the_matrix_cap_releases_through_chunked_matrices() {
    let Some(registry) = cluster_or_skip() else {
        return;
    };
    let _one = ONE_RUN.lock().unwrap_or_else(|e| e.into_inner());
    tekton_up();
    let report = pipeline_run(&[
        ("LANE_TEKTON_PROJECT", "tkbig"),
        ("LANE_TEKTON_SERVICES", "10"),
        ("LANE_TEKTON_MAX_MATRIX", "4"),
        ("LANE_TEKTON_CLUSTER_MATRIX_CAP", "4"),
        ("LANE_TEKTON_WEBHOOK", "0"),
    ]);
    let runs = report["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 1, "{report}");
    let run = &runs[0];
    assert_eq!(run["succeeded"], true, "{run}");
    assert_eq!(run["results"]["promotion"], "committed");
    assert_eq!(counts(run)["affected"], 10, "{run}");
    // Three matrices, none larger than the cap; every service built once.
    let mut per_matrix: std::collections::BTreeMap<String, usize> = Default::default();
    for t in run["taskRuns"].as_array().unwrap() {
        let task = t["task"].as_str().unwrap();
        if task.starts_with("build-publish") {
            assert_eq!(t["reason"], "Succeeded", "{t}");
            *per_matrix.entry(task.to_string()).or_default() += 1;
        }
    }
    assert_eq!(
        per_matrix.into_iter().collect::<Vec<_>>(),
        vec![
            ("build-publish".to_string(), 4),
            ("build-publish-2".to_string(), 4),
            ("build-publish-3".to_string(), 2)
        ]
    );
    let b = built(run);
    let mut repos: Vec<&str> = b.iter().map(|(r, _)| r.as_str()).collect();
    repos.sort();
    repos.dedup();
    assert_eq!(repos.len(), 10, "{repos:?}");
    assert!(repos.iter().all(|r| r.starts_with(&format!("{registry}/"))));
    assert_eq!(
        run["results"]["IMAGES"].as_str().unwrap().lines().count(),
        10
    );
    let v = &run["verify"];
    assert_eq!(v["exit"], 0, "{v}");
    assert_eq!(v["status"]["tekton.digests"], "pass", "{v}");
    assert_eq!(v["status"]["live.images"], "pass", "{v}");
}
