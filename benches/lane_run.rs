//! Orchestration overhead of one lane run — everything but the image builds — for a lane of
//! 50 services with one changed: plan → publish → promote → render --no-write →
//! verify --only static, as the Pipeline's steps run them (one `lane` process each), against
//! a real registry and a `file://` GitOps remote. Side by side: the usual shell way of only
//! collecting the 50 digests (`skopeo inspect` per image). Goal: the whole lane run < 1 s.
//!
//! Run: `cargo bench --bench lane_run` (release build; needs buildah, skopeo, docker-registry).

#[path = "../tests/common/mod.rs"]
#[allow(unused_imports)]
mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const SERVICES: usize = 50;
const ROUNDS: usize = 3;

fn bah(work: &Path, args: &[&str]) {
    let st = Command::new("buildah")
        .args(["--storage-driver", "vfs", "--root"])
        .arg(work.join("buildah/root"))
        .arg("--runroot")
        .arg(work.join("buildah/run"))
        .args(args)
        .stdout(std::process::Stdio::null())
        .status()
        .expect("buildah");
    assert!(st.success(), "buildah {args:?}");
}

fn build_push(work: &Path, src: &Path, host: &str, remote: &str, svc: &str, commit: &str) {
    let repo = format!("{host}/agentrun/{svc}:{commit}");
    let ctx = src.join("apps").join(svc);
    bah(
        work,
        &[
            "bud",
            "--quiet",
            "--isolation",
            "chroot",
            "-t",
            &repo,
            "--label",
            &format!("org.opencontainers.image.revision={commit}"),
            "--label",
            &format!("org.opencontainers.image.source={remote}"),
            "--label",
            &format!("dev.lane.service={svc}"),
            "-f",
            ctx.join("Dockerfile").to_str().unwrap(),
            ctx.to_str().unwrap(),
        ],
    );
    bah(
        work,
        &[
            "push",
            "--quiet",
            "--tls-verify=false",
            &repo,
            &format!("docker://{repo}"),
        ],
    );
}

fn lane(dir: &Path, args: &[&str]) -> Duration {
    let t = Instant::now();
    let r = common::lane(dir, args);
    let d = t.elapsed();
    assert!(
        r.code == 0,
        "lane {args:?} failed: {}\n{}",
        r.stdout,
        r.stderr
    );
    d
}

fn main() {
    let work = common::tempdir();
    let w = work.path();
    let reg = common::registry::Registry::start();
    let (_rd, remote_path) = common::gitrepo::bare_repo();
    let remote = format!("file://{}", remote_path.display());
    let src = common::gitrepo::TestRepo::init("v0.1");
    // The shipped lane block, pointed at this registry; 50 small built services.
    let shipped: serde_json::Value =
        serde_json::from_slice(&std::fs::read(common::shipped_deploy()).unwrap()).unwrap();
    let mut lane_block = shipped["lane"].clone();
    lane_block["registry"]["host"] = reg.host.clone().into();
    lane_block["sourceRepo"] = remote.clone().into();
    let services: Vec<serde_json::Value> = (0..SERVICES)
        .map(|i| {
            let id = format!("svc-{i:02}");
            src.write(&format!("apps/{id}/app.txt"), &format!("{id} build 0\n"));
            src.write(&format!("apps/{id}/Dockerfile"), "FROM scratch\nCOPY app.txt /app.txt\n");
            serde_json::json!({
                "id": id, "kind": "deployment", "replicas": 1,
                "build": {"context": format!("apps/{id}"), "dockerfile": format!("apps/{id}/Dockerfile")},
                "ports": [{"name": "http", "containerPort": 8080}],
                "health": {"path": "/health", "port": "http"}
            })
        })
        .collect();
    let intent = serde_json::json!({"schemaVersion": 1, "lane": lane_block, "services": services});
    src.write(
        "deploy/deploy.json",
        &serde_json::to_string_pretty(&intent).unwrap(),
    );
    let c0 = src.commit("lane of 50");
    src.git(&["remote", "add", "origin", &remote]);
    src.git(&["push", "-q", "origin", "v0.1"]);
    eprintln!("lane_run: building and pushing {SERVICES} images with buildah (not timed)");
    for i in 0..SERVICES {
        build_push(
            w,
            src.path(),
            &reg.host,
            &remote,
            &format!("svc-{i:02}"),
            &c0,
        );
    }
    let deploy = src.path().join("deploy/deploy.json");
    let d = deploy.to_str().unwrap();
    let plan = w.join("plan.json");
    let p = plan.to_str().unwrap();
    let pubdir = w.join("publish");
    let pd = pubdir.to_str().unwrap();
    let run = |commit: &str, init: bool| -> Vec<(&'static str, Duration)> {
        let _ = std::fs::remove_dir_all(&pubdir);
        let mut steps = Vec::new();
        let mut args = vec![
            "plan",
            "--repo",
            ".",
            "--commit",
            commit,
            "--gitops-remote",
            &remote,
            "--out",
            p,
        ];
        if init {
            args.push("--init");
        }
        steps.push(("plan", lane(src.path(), &args)));
        let out = format!("{pd}/publish.json");
        steps.push((
            "publish",
            lane(
                src.path(),
                &["publish", "--plan", p, "--deploy", d, "--out", &out],
            ),
        ));
        let mut args = vec![
            "promote",
            "--repo",
            ".",
            "--commit",
            commit,
            "--publish",
            pd,
            "--gitops-remote",
            &remote,
        ];
        if init {
            args.push("--init");
        }
        steps.push(("promote", lane(src.path(), &args)));
        steps.push((
            "render --no-write",
            lane(
                src.path(),
                &[
                    "render",
                    "--deploy",
                    d,
                    "--repo",
                    ".",
                    "--gitops-remote",
                    &remote,
                    "--no-write",
                ],
            ),
        ));
        steps.push((
            "verify --only static",
            lane(
                src.path(),
                &[
                    "verify",
                    "--only",
                    "static",
                    "--repo",
                    ".",
                    "--commit",
                    commit,
                    "--gitops-remote",
                    &remote,
                ],
            ),
        ));
        steps
    };
    run(&c0, true);
    let mut totals = Vec::new();
    let mut last = Vec::new();
    for round in 1..=ROUNDS {
        let svc = format!("svc-{:02}", round * 7);
        src.write(
            &format!("apps/{svc}/app.txt"),
            &format!("{svc} build {round}\n"),
        );
        let c = src.commit(&format!("change {svc}"));
        src.git(&["push", "-q", "origin", "v0.1"]);
        build_push(w, src.path(), &reg.host, &remote, &svc, &c);
        let steps = run(&c, false);
        let plan_doc: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&plan).unwrap()).unwrap();
        assert_eq!(
            plan_doc["counts"]["affected"], 1,
            "exactly one service changed"
        );
        assert_eq!(plan_doc["counts"]["reused"], SERVICES - 1);
        totals.push(steps.iter().map(|s| s.1).sum::<Duration>());
        last = steps;
    }
    totals.sort();
    let median = totals[totals.len() / 2];
    // Peer: the usual shell step that only collects the digests, one skopeo call per image.
    let t = Instant::now();
    for i in 0..SERVICES {
        let img = format!("docker://{}/agentrun/svc-{i:02}:{c0}", reg.host);
        let st = Command::new("skopeo")
            .args([
                "inspect",
                "--tls-verify=false",
                "--format",
                "{{.Digest}}",
                &img,
            ])
            .stdout(std::process::Stdio::null())
            .status()
            .expect("skopeo");
        assert!(st.success());
    }
    let skopeo = t.elapsed();
    println!("lane run, {SERVICES} services, 1 changed (median of {ROUNDS}, builds excluded):");
    for (name, d) in &last {
        println!("  {name:22} {:>8.1} ms", d.as_secs_f64() * 1e3);
    }
    println!(
        "  {:22} {:>8.1} ms  (goal < 1000 ms: {})",
        "whole run",
        median.as_secs_f64() * 1e3,
        if median < Duration::from_secs(1) {
            "met"
        } else {
            "NOT met"
        }
    );
    println!(
        "peer: skopeo inspect x{SERVICES} (digests only) {:>8.1} ms",
        skopeo.as_secs_f64() * 1e3
    );
    println!(
        "ratio: the whole lane run takes {:.2}x the time of the shell digest loop alone",
        median.as_secs_f64() / skopeo.as_secs_f64()
    );
}
