//! The whole release on the real cluster, started the way GitHub starts it: a signed push
//! webhook to the in-cluster EventListener → the shipped Pipeline's PipelineRun
//! (prepare-source, validate with the project's Bun checks, plan, build-publish with buildah in
//! a pod, promote, verify) → `lane verify` from outside passes all five groups. Needs the
//! cluster of scripts/cluster.sh with Tekton (scripts/cluster-tekton.sh); without it the bench
//! says so and exits.
//!
//! Setup (untimed): `scripts/e2e.sh --keep-running` (the AgentRun lane, run 1 direct, run 2
//! through the webhook, so the Tasks, Pipeline and Triggers are applied and warm). Each round
//! then changes the manager's source, pushes it, and times from the webhook's POST to the
//! passing `lane verify`:
//!   - each TaskRun's time (its pod's start to completion, from the TaskRun status);
//!   - the PipelineRun's own span, and what lies outside it (trigger → run created, and the
//!     controller's scheduling between Tasks);
//!   - verify from outside (`--wait`: Argo CD syncs, the pod rolls out).
//!
//! Run: `cargo bench --bench webhook_release` (release build of lane).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

mod common;
use common::{git, run};

const ROUNDS: usize = 2;

fn kubectl(args: &[&str]) -> String {
    let bin = PathBuf::from(std::env::var("LANE_CLUSTER_BIN").unwrap()).join("kubectl");
    run(Command::new(bin)
        .arg("--kubeconfig")
        .arg(std::env::var("LANE_CLUSTER_KUBECONFIG").unwrap())
        .args(args))
    .1
}

/// Seconds since the epoch of an RFC 3339 `…Z` timestamp (what the Tekton status carries).
fn epoch(t: &str) -> i64 {
    let out = run(Command::new("date").args(["-u", "-d", t, "+%s"])).1;
    out.trim().parse().unwrap()
}

fn now_epoch() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

struct Round {
    total: Duration,
    created_after: i64,
    pipeline_run: i64,
    verify: Duration,
    tasks: BTreeMap<String, i64>,
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let Some(common::E2eLane {
        api,
        ca,
        lane,
        work,
        dir: w,
        remote,
        source: src,
    }) = common::e2e_lane("webhook_release", &["LANE_CLUSTER_KUBECONFIG"])
    else {
        return;
    };
    let secret_file = w.join("webhook-secret");
    let (ci, el) = ("agentrun-ci", "el-agentrun-v01-github");
    let ip = kubectl(&[
        "-n",
        ci,
        "get",
        "service",
        el,
        "-o",
        "jsonpath={.spec.clusterIP}",
    ]);
    let port = kubectl(&[
        "-n",
        ci,
        "get",
        "service",
        el,
        "-o",
        "jsonpath={.spec.ports[0].port}",
    ]);
    let mut rounds = Vec::new();
    for round in 0..ROUNDS {
        let before = git(&src, &["rev-parse", "HEAD"]);
        let app = src.join("apps/mgr/src/app.ts");
        let mut text = std::fs::read_to_string(&app).unwrap();
        text.push_str(&format!("// webhook bench round {round}\n"));
        std::fs::write(&app, text).unwrap();
        git(
            &src,
            &[
                "commit",
                "-q",
                "-am",
                &format!("mgr: webhook bench round {round}"),
            ],
        );
        git(&src, &["push", "-q", "origin", "v0.1"]);
        let commit = git(&src, &["rev-parse", "HEAD"]);
        let body = serde_json::json!({
            "ref": "refs/heads/v0.1", "before": before, "after": commit, "created": false,
            "deleted": false, "forced": false,
            "repository": {"full_name": "agentrun/agentrun", "name": "agentrun",
                           "ssh_url": remote, "clone_url": remote},
            "pusher": {"name": "bench"}, "head_commit": {"id": commit},
        })
        .to_string();
        let body_file = work.path().join(format!("body-{round}.json"));
        std::fs::write(&body_file, &body).unwrap();
        // HMAC-SHA256 of the body with the webhook Secret, as GitHub signs it.
        let sig = run(Command::new("openssl")
            .args(["dgst", "-sha256", "-mac", "HMAC", "-macopt"])
            .arg(format!(
                "key:{}",
                std::fs::read_to_string(&secret_file).unwrap()
            ))
            .arg(&body_file))
        .1;
        let sig = sig.split_whitespace().last().unwrap().to_string();
        let pr = format!("agentrun-v01-ci-{}", &commit[..12]);

        let t0 = Instant::now();
        let posted = now_epoch();
        let (_, code) = run(Command::new("curl")
            .args([
                "-s",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
                "--max-time",
                "30",
            ])
            .args([
                "-H",
                "Content-Type: application/json",
                "-H",
                "X-GitHub-Event: push",
            ])
            .arg("-H")
            .arg(format!("X-GitHub-Delivery: bench-{commit}"))
            .arg("-H")
            .arg(format!("X-Hub-Signature-256: sha256={sig}"))
            .arg("--data-binary")
            .arg(format!("@{}", body_file.display()))
            .arg(format!("http://{ip}:{port}/")));
        assert_eq!(code, "202", "the EventListener's answer");
        let status = loop {
            let s = Command::new(
                PathBuf::from(std::env::var("LANE_CLUSTER_BIN").unwrap()).join("kubectl"),
            )
            .arg("--kubeconfig")
            .arg(std::env::var("LANE_CLUSTER_KUBECONFIG").unwrap())
            .args(["-n", ci, "get", "pipelinerun", &pr, "-o"])
            .arg("jsonpath={.status.conditions[0].status}")
            .output()
            .unwrap();
            let s = String::from_utf8_lossy(&s.stdout).to_string();
            if s == "True" || s == "False" {
                break s;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(900),
                "{pr} did not finish"
            );
            std::thread::sleep(Duration::from_millis(500));
        };
        assert_eq!(status, "True", "{pr} failed");
        let tv = Instant::now();
        run(Command::new(lane)
            .args(["verify", "--quiet", "--repo"])
            .arg(&src)
            .args(["--commit", &commit, "--gitops-remote", &remote])
            .args(["--pipeline-run", &pr, "--wait", "300"])
            .args(["--api-server", &api, "--ca-file", &ca, "--token-file"])
            .arg(w.join("verify-token")));
        let verify = tv.elapsed();
        let total = t0.elapsed();

        let prj: serde_json::Value = serde_json::from_str(&kubectl(&[
            "-n",
            ci,
            "get",
            "pipelinerun",
            &pr,
            "-o",
            "json",
        ]))
        .unwrap();
        let st = &prj["status"];
        let created = epoch(prj["metadata"]["creationTimestamp"].as_str().unwrap());
        let pipeline_run = epoch(st["completionTime"].as_str().unwrap())
            - epoch(st["startTime"].as_str().unwrap());
        let trs: serde_json::Value = serde_json::from_str(&kubectl(&[
            "-n",
            ci,
            "get",
            "taskruns",
            "-l",
            &format!("tekton.dev/pipelineRun={pr}"),
            "-o",
            "json",
        ]))
        .unwrap();
        let mut tasks = BTreeMap::new();
        for t in trs["items"].as_array().unwrap() {
            let name = t["metadata"]["labels"]["tekton.dev/pipelineTask"]
                .as_str()
                .unwrap()
                .to_string();
            let s = &t["status"];
            let secs = epoch(s["completionTime"].as_str().unwrap())
                - epoch(s["startTime"].as_str().unwrap());
            *tasks.entry(name).or_insert(0) += secs;
        }
        let r = Round {
            total,
            created_after: created - posted,
            pipeline_run,
            verify,
            tasks,
        };
        let t = r.total.as_secs_f64();
        println!(
            "round {round}: webhook → verified {t:.1} s: trigger → run created {} s, PipelineRun {} s, verify from outside {:.1} s",
            r.created_after,
            r.pipeline_run,
            r.verify.as_secs_f64()
        );
        // Tasks run one after another here (one service: one build-publish TaskRun), so what
        // the PipelineRun spans beyond its TaskRuns is the controller starting the next one.
        let in_tasks: i64 = r.tasks.values().sum();
        println!(
            "   between Tasks    {:4} s  (the PipelineRun's span minus its TaskRuns)",
            r.pipeline_run - in_tasks
        );
        for (task, secs) in &r.tasks {
            println!(
                "   {task:16} {secs:4} s  {:5.1} %",
                100.0 * *secs as f64 / t
            );
        }
        rounds.push(r);
    }
    if let Ok(pids) = std::fs::read_to_string(w.join("pids")) {
        for pid in pids.split_whitespace() {
            let _ = Command::new("kill").arg(pid).status();
        }
    }
    let mut totals: Vec<f64> = rounds.iter().map(|r| r.total.as_secs_f64()).collect();
    totals.sort_by(|a, b| a.partial_cmp(b).unwrap());
    println!(
        "webhook → verified over {ROUNDS} rounds (one service rebuilt with buildah each): min {:.1} s, max {:.1} s",
        totals[0],
        totals[totals.len() - 1]
    );
}
