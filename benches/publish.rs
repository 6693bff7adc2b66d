//! Resolve 50 image digests on a local registry: `lane publish` (one process, concurrent,
//! one connection pool, digest + provenance + HEAD confirm per image) against `skopeo inspect`
//! run once per image, the usual shell-step way. Run: `cargo bench --bench publish`.

#[path = "../tests/common/mod.rs"]
mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::oci::{self, Format, Image};
use serde_json::json;

const N: usize = 50;
const SOURCE: &str = "git@github.com:pikasTech/agentrun.git";
const COMMIT: &str = "3333333333333333333333333333333333333333";

fn main() {
    let reg = common::registry::Registry::start();
    let dir = common::tempdir();
    let ids: Vec<String> = (0..N).map(|i| format!("svc-{i:02}")).collect();

    // Push 50 small images (half Docker schema2, half OCI), four skopeo processes at a time.
    let t = Instant::now();
    for chunk in ids.chunks(4) {
        let handles: Vec<_> = chunk
            .iter()
            .enumerate()
            .map(|(k, id)| {
                let dest = format!("{}/bench/{id}:{COMMIT}", reg.host);
                let id = id.clone();
                std::thread::spawn(move || {
                    let img = Image::linux_amd64(oci::lane_labels(&id, COMMIT, SOURCE), &id);
                    let f = if k % 2 == 0 {
                        Format::Docker
                    } else {
                        Format::Oci
                    };
                    oci::build_and_push(&dest, &[img], false, f);
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
    }
    eprintln!("pushed {N} images in {:.1}s", t.elapsed().as_secs_f64());

    let services: Vec<_> = ids
        .iter()
        .map(|id| {
            json!({"id": id, "kind": "deployment", "decision": "affected", "reason": "bench",
            "imageRepository": format!("{}/bench/{id}", reg.host), "tag": COMMIT})
        })
        .collect();
    let plan = json!({"schemaVersion": 1, "lane": "v0.1", "sourceRepo": SOURCE, "sourceBranch": "v0.1",
        "gitopsBranch": "v0.1-gitops", "sourceCommit": COMMIT, "init": false, "services": services,
        "counts": {"total": N, "affected": N, "reused": 0, "pin": 0, "excluded": 0, "unsupported": 0}});
    let plan_path = dir.path().join("plan.json");
    std::fs::write(&plan_path, plan.to_string()).unwrap();
    let out = dir.path().join("publish.json");

    let lane_once = || {
        let t = Instant::now();
        let o = Command::new(common::lane_bin())
            .args(["--quiet", "publish", "--allow-insecure", "--plan"])
            .arg(&plan_path)
            .arg("--out")
            .arg(&out)
            .env("DOCKER_CONFIG", dir.path().join("none"))
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "lane publish failed: {}",
            String::from_utf8_lossy(&o.stdout)
        );
        t.elapsed()
    };
    let skopeo = common::tools::require("skopeo");
    let skopeo_once = || {
        let t = Instant::now();
        for id in &ids {
            let o = Command::new(&skopeo)
                .args(["inspect", "--tls-verify=false", "--format", "{{.Digest}}"])
                .arg(format!("docker://{}/bench/{id}:{COMMIT}", reg.host))
                .output()
                .unwrap();
            assert!(
                o.status.success(),
                "skopeo inspect failed: {}",
                String::from_utf8_lossy(&o.stderr)
            );
        }
        t.elapsed()
    };

    lane_once(); // warm-up (page cache, registry)
                 // Best wall time of `runs`, and the registry's mean CPU time per run: both tools send the
                 // same registry about three requests per image, so the registry's own work is a floor
                 // under lane's figure that no client can go below.
    let measure = |f: &dyn Fn() -> Duration, runs: usize| {
        let cpu0 = reg.cpu_time();
        let best = (0..runs).map(|_| f()).min().unwrap();
        (best, (reg.cpu_time() - cpu0) / runs as u32)
    };
    let (lane, lane_reg_cpu) = measure(&lane_once, 5);
    let (skopeo_t, skopeo_reg_cpu) = measure(&skopeo_once, 2);

    // Same answers: every digest lane recorded is the one skopeo reports.
    let result: serde_json::Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(result["images"].as_array().unwrap().len(), N);
    for img in result["images"].as_array().unwrap() {
        let o = Command::new(&skopeo)
            .args(["inspect", "--tls-verify=false", "--format", "{{.Digest}}"])
            .arg(format!(
                "docker://{}:{COMMIT}",
                img["repository"].as_str().unwrap()
            ))
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&o.stdout).trim(),
            img["digest"].as_str().unwrap()
        );
    }

    println!("publish: resolve {N} image digests on a local registry (best of runs)");
    println!(
        "  lane publish (digest + provenance + HEAD, concurrency 8): {:>8.1} ms",
        lane.as_secs_f64() * 1e3
    );
    println!(
        "  skopeo inspect x{N} (one process per image):            {:>8.1} ms",
        skopeo_t.as_secs_f64() * 1e3
    );
    println!(
        "  ratio: {:.1}x",
        skopeo_t.as_secs_f64() / lane.as_secs_f64()
    );
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "  registry CPU per run: lane {:.0} ms ({:.1} ms per request, 3 requests per image), skopeo {:.0} ms",
        lane_reg_cpu.as_secs_f64() * 1e3,
        lane_reg_cpu.as_secs_f64() * 1e3 / (3 * N) as f64,
        skopeo_reg_cpu.as_secs_f64() * 1e3
    );
    println!(
        "  registry-bound floor for lane on {cores} core(s): {:.0} ms (lane is {:.2}x the floor)",
        lane_reg_cpu.as_secs_f64() * 1e3 / cores as f64,
        lane.as_secs_f64() / (lane_reg_cpu.as_secs_f64() / cores as f64)
    );
}
