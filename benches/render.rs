//! `cargo bench --bench render`: render a synthetic lane of 1,000 services (release build)
//! and, side by side, time `kubectl kustomize` over the produced tree (the tool Argo CD runs
//! on the same directory). Goal: render under 200 ms for 1,000 services.

use std::process::Command;
use std::time::{Duration, Instant};

use lane::model::{Catalog, Lane};

// The allocator of the shipped binary (src/main.rs).
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;
use serde_json::json;

const SERVICES: usize = 1000;
const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";

fn synthetic() -> (Lane, Catalog) {
    let mut services = Vec::new();
    let mut entries = serde_json::Map::new();
    let mut ingress = Vec::new();
    for i in 0..SERVICES {
        let id = format!("svc-{i:04}");
        let job = i % 10 == 9;
        let mut s = json!({
            "id": id,
            "kind": if job { "job" } else { "deployment" },
            "build": {"context": format!("apps/{id}"), "dockerfile": format!("apps/{id}/Dockerfile")},
            "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": "1", "memory": "512Mi"}},
            "env": [
                {"name": "LOG_LEVEL", "value": "info"},
                {"name": "DATABASE_URL", "secretKeyRef": {"name": "bench-postgres", "key": "DATABASE_URL"}}
            ],
            "config": {"SERVICE_NAME": id, "FEATURE_FLAGS": "a,b,c"}
        });
        if !job {
            s["replicas"] = json!(1);
            s["ports"] = json!([{"name": "http", "containerPort": 8080, "servicePort": 80}]);
            s["health"] = json!({"path": "/health", "port": "http"});
            if i > 0 {
                ingress.push(json!({"to": id, "fromServices": [format!("svc-{:04}", i - 1)], "ports": ["http"]}));
            }
        }
        entries.insert(
            id.clone(),
            json!({
                "component": {"service": id, "kind": if job { "job" } else { "deployment" }},
                "imageRepository": format!("127.0.0.1:5000/bench/{id}"),
                "tag": COMMIT,
                "digest": format!("sha256:{:064x}", i + 1),
                "status": "published",
                "sourceCommit": COMMIT,
                "fingerprint": format!("sha256:{}", "f".repeat(64)),
                "publishedAt": "2026-11-01T00:00:00Z",
                "updatedAt": "2026-11-01T00:00:00Z"
            }),
        );
        services.push(s);
    }
    let intent = json!({
        "schemaVersion": 1,
        "lane": {
            "version": "v0.1", "project": "bench", "cluster": "g14",
            "sourceRepo": "https://example.invalid/bench.git",
            "registry": {"host": "127.0.0.1:5000", "repositoryPrefix": "bench", "insecure": true}
        },
        "services": services,
        "networkPolicy": {"ingress": ingress}
    });
    let catalog = json!({
        "schemaVersion": 1, "lane": "v0.1", "sourceRepo": "https://example.invalid/bench.git",
        "sourceBranch": "v0.1", "gitopsBranch": "v0.1-gitops", "sourceCommit": COMMIT,
        "updatedAt": "2026-11-01T00:00:00Z", "services": entries
    });
    let lane =
        Lane::parse(intent.to_string().as_bytes(), "bench deploy.json").expect("valid intent");
    let catalog = lane::model::check::parse_catalog(
        &serde_json::to_vec(&catalog).expect("catalog"),
        "catalog.json",
        Some(&lane.names),
    )
    .expect("valid catalog");
    (lane, catalog)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let (lane, catalog) = synthetic();
    // Warm up (template compilation happens once per process).
    let tree = lane::render::render_tree(&lane, &catalog).expect("renders");
    let bytes: usize = tree.files.values().map(String::len).sum();
    let runs = 7;
    let times: Vec<Duration> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            let t2 = lane::render::render_tree(&lane, &catalog).expect("renders");
            let d = t.elapsed();
            assert_eq!(t2.files.len(), tree.files.len());
            d
        })
        .collect();
    let ours = median(times);
    println!(
        "lane render_tree: {SERVICES} services, {} files, {:.1} MB, median of {runs}: {:.1} ms (goal < 200 ms)",
        tree.files.len(),
        bytes as f64 / 1e6,
        ours.as_secs_f64() * 1e3
    );

    if std::env::var_os("LANE_BENCH_NO_PEER").is_some() {
        println!("LANE_BENCH_NO_PEER set: no kubectl kustomize figure");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    for (k, v) in &tree.files {
        std::fs::write(dir.path().join(k), v).unwrap();
    }
    let peer_runs = 3;
    let mut peer = Vec::new();
    for _ in 0..peer_runs {
        let t = Instant::now();
        let out = Command::new("kubectl")
            .arg("kustomize")
            .arg(dir.path())
            .output();
        let d = t.elapsed();
        match out {
            Ok(o) if o.status.success() => peer.push(d),
            Ok(o) => {
                println!(
                    "kubectl kustomize failed: {}",
                    String::from_utf8_lossy(&o.stderr)
                );
                return;
            }
            Err(e) => {
                println!("kubectl not available ({e}); no peer figure");
                return;
            }
        }
    }
    let peer = median(peer);
    println!(
        "peer kubectl kustomize (same tree): median of {peer_runs}: {:.1} ms",
        peer.as_secs_f64() * 1e3
    );
    println!(
        "ratio kustomize / lane render: {:.1}x",
        peer.as_secs_f64() / ours.as_secs_f64()
    );
}
