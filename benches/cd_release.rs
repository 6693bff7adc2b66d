//! The CD half on the real cluster, without image builds: `lane promote` → Argo CD
//! Synced/Healthy with the new digest rolled out → `lane verify` (live, argo, gitops, source)
//! passes. Needs the cluster of scripts/cluster.sh (`eval "$(scripts/cluster.sh env)"`);
//! without it the bench says so and exits.
//!
//! Setup (untimed): `scripts/e2e.sh --keep-running` deploys the AgentRun lane and leaves two
//! published agentrun-mgr images in the cluster registry. Each round then commits a change to
//! the manager's source, names one of those two images as its published image (alternating, so
//! every round rolls out a new digest), and times:
//!   - promote: `lane promote` (catalog + tree pushed to the GitOps branch);
//!   - wait: `lane verify --wait 300` until every live/argo/gitops/source check passes (it asks
//!     Argo CD to refresh, then waits for sync and rollout);
//!   - one verify pass: `lane verify` once more on the settled release.
//!
//! lane's own share = promote + one verify pass; the rest of the wall time is Argo CD and the
//! kubelet. Goal (docs/benchmarks.md): total < 30 s, lane's share < 2 s.
//!
//! Run: `cargo bench --bench cd_release`.

use std::process::Command;
use std::time::{Duration, Instant};

mod common;
use common::{git, run};

const ROUNDS: usize = 5;

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
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
    }) = common::e2e_lane("cd_release", &[])
    else {
        return;
    };
    let publish = |n: u32| -> serde_json::Value {
        serde_json::from_slice(
            &std::fs::read(w.join(format!("run-{n}/publish/publish.json"))).unwrap(),
        )
        .unwrap()
    };
    // Run 2 left mgr's second image live and runner reused from run 1.
    let (first, second) = (publish(1), publish(2));
    let mgr = |doc: &serde_json::Value| {
        doc["images"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["service"] == "agentrun-mgr")
            .unwrap()
            .clone()
    };
    let runner = second["images"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["service"] == "agentrun-runner")
        .unwrap()
        .clone();
    let images = [mgr(&first), mgr(&second)];
    let verify = |commit: &str, wait: bool| {
        let mut c = Command::new(lane);
        c.args(["verify", "--quiet", "--repo"])
            .arg(&src)
            .args(["--commit", commit, "--gitops-remote", &remote])
            .args(["--only", "live,argo,gitops,source"])
            .args(["--api-server", &api, "--ca-file", &ca, "--token-file"])
            .arg(w.join("verify-token"));
        if wait {
            c.args(["--wait", "300"]);
        }
        c
    };
    let (mut promote_t, mut wait_t, mut pass_t, mut total_t) = (vec![], vec![], vec![], vec![]);
    for round in 0..ROUNDS {
        let app = src.join("apps/mgr/src/app.ts");
        let mut text = std::fs::read_to_string(&app).unwrap();
        text.push_str(&format!("// bench round {round}\n"));
        std::fs::write(&app, text).unwrap();
        git(
            &src,
            &["commit", "-q", "-am", &format!("mgr: bench round {round}")],
        );
        git(&src, &["push", "-q", "origin", "v0.1"]);
        let commit = git(&src, &["rev-parse", "HEAD"]);
        let mut image = images[round % 2].clone();
        image["tag"] = serde_json::json!(commit);
        let doc = serde_json::json!({
            "schemaVersion": 1, "lane": "v0.1", "sourceCommit": commit,
            "images": [image, runner.clone()],
        });
        let p = work.path().join(format!("publish-{round}.json"));
        std::fs::write(&p, doc.to_string()).unwrap();

        let t0 = Instant::now();
        let (promote, _) = run(Command::new(lane)
            .args(["promote", "--quiet", "--repo"])
            .arg(&src)
            .args(["--commit", &commit, "--gitops-remote", &remote, "--publish"])
            .arg(&p));
        let (wait, _) = run(&mut verify(&commit, true));
        let total = t0.elapsed();
        let (pass, _) = run(&mut verify(&commit, false));
        println!(
            "round {round}: total {:7.0} ms   promote {:5.0} ms   verify --wait {:7.0} ms   one verify pass {:5.0} ms",
            ms(total),
            ms(promote),
            ms(wait),
            ms(pass)
        );
        promote_t.push(promote);
        wait_t.push(wait);
        pass_t.push(pass);
        total_t.push(total);
    }
    if let Ok(pids) = std::fs::read_to_string(w.join("pids")) {
        for pid in pids.split_whitespace() {
            let _ = Command::new("kill").arg(pid).status();
        }
    }
    let (total, promote, pass) = (median(total_t), median(promote_t), median(pass_t));
    let share = promote + pass;
    println!(
        "median of {ROUNDS}: promote → Synced/Healthy → verify passes in {:.1} s; lane's own share {:.0} ms (promote {:.0} ms + one verify pass {:.0} ms) = {:.1} % of the wall time",
        total.as_secs_f64(),
        ms(share),
        ms(promote),
        ms(pass),
        100.0 * share.as_secs_f64() / total.as_secs_f64()
    );
    println!(
        "goal: total < 30 s ({}), lane's share < 2 s ({})",
        if total < Duration::from_secs(30) {
            "met"
        } else {
            "missed"
        },
        if share < Duration::from_secs(2) {
            "met"
        } else {
            "missed"
        }
    );
}
