//! A burst of promotions: 32 PipelineRuns of 32 different services promote at the same moment
//! into one GitOps branch served by a real `git daemon`, repeated 10 times. lane runs with its
//! default settings; beside it, in the same run, the typical shell step for the same burst
//! (clone, write the service's file, commit, `git push`, on rejection `git pull --rebase` and
//! push again, at most 12 pushes with a random sleep of up to 1 s).
//!
//! Prints, for each: how many of the 32 landed per repetition, pushes per run
//! (min/median/max) and the wall time of the burst.
//!
//! Run: `cargo bench --bench promote_burst`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::{daemon, git, Daemon};

const SERVICES: usize = 32;
const REPETITIONS: usize = 10;
const GITOPS: &str = "v0.1-gitops";

/// The shipped deploy.json with `SERVICES` deployments.
fn deploy_json() -> serde_json::Value {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("deploy/deploy.json")).unwrap())
            .unwrap();
    let template = v["services"][0].clone();
    for i in 0..SERVICES - 2 {
        let mut s = template.clone();
        let id = format!("svc-{}", i + 2);
        s["id"] = serde_json::json!(id);
        s["build"]["context"] = serde_json::json!(format!("apps/{id}"));
        s["build"]["dockerfile"] = serde_json::json!(format!("apps/{id}/Dockerfile"));
        if let Some(o) = s.as_object_mut() {
            o.remove("volumes");
            o.remove("serviceAccount");
        }
        v["services"].as_array_mut().unwrap().push(s);
    }
    v
}

fn publish(dir: &Path, name: &str, commit: &str, images: &[(String, String, u64)]) -> PathBuf {
    let images: Vec<serde_json::Value> = images
        .iter()
        .map(|(id, kind, n)| {
            serde_json::json!({
                "service": id, "kind": kind,
                "repository": format!("127.0.0.1:5000/agentrun/{id}"),
                "tag": commit,
                "digest": format!("sha256:{n:064x}"),
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "status": "published",
                "fingerprint": format!("sha256:{}", "f".repeat(64)),
            })
        })
        .collect();
    let p = dir.join(name);
    let doc = serde_json::json!({"schemaVersion": 1, "lane": "v0.1", "sourceCommit": commit, "images": images});
    std::fs::write(&p, doc.to_string()).unwrap();
    p
}

struct Burst {
    landed: usize,
    pushes: Vec<u64>,
    wall: Duration,
}

/// One lane burst into a fresh GitOps repository.
fn lane_burst(work: &Path, d: &Daemon, rep: usize) -> Burst {
    let deploy = deploy_json();
    let src = work.join(format!("src-{rep}"));
    std::fs::create_dir_all(src.join("deploy")).unwrap();
    git(&src, &["init", "-q", "-b", "v0.1"]);
    std::fs::write(src.join("deploy/deploy.json"), deploy.to_string()).unwrap();
    git(&src, &["add", "-A"]);
    git(&src, &["commit", "-q", "-m", "source"]);
    let commit = git(&src, &["rev-parse", "HEAD"]);
    let name = format!("lane-{rep}.git");
    git(work, &["init", "-q", "--bare", &format!("gitops/{name}")]);
    let url = format!("git://127.0.0.1:{}/{name}", d.1);
    let services: Vec<(String, String)> = deploy["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["id"].as_str().unwrap().to_string(),
                s["kind"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let all: Vec<_> = services
        .iter()
        .enumerate()
        .map(|(i, (id, k))| (id.clone(), k.clone(), i as u64 + 1))
        .collect();
    let init = publish(work, &format!("init-{rep}.json"), &commit, &all);
    let args = |p: &Path| -> Vec<String> {
        [
            "promote",
            "--quiet",
            "--repo",
            src.to_str().unwrap(),
            "--commit",
            &commit,
            "--gitops-remote",
            &url,
            "--publish",
            p.to_str().unwrap(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };
    let out = Command::new(env!("CARGO_BIN_EXE_lane"))
        .args(args(&init))
        .arg("--init")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let files: Vec<PathBuf> = services
        .iter()
        .enumerate()
        .map(|(i, (id, k))| {
            publish(
                work,
                &format!("p-{rep}-{i}.json"),
                &commit,
                &[(id.clone(), k.clone(), 1000 + i as u64)],
            )
        })
        .collect();
    let t = Instant::now();
    let children: Vec<Child> = files
        .iter()
        .map(|p| {
            Command::new(env!("CARGO_BIN_EXE_lane"))
                .args(args(p))
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut landed = 0;
    let mut pushes = Vec::new();
    for c in children {
        let out = c.wait_with_output().unwrap();
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        if out.status.success() {
            landed += 1;
            pushes.push(doc["attempts"].as_u64().unwrap_or(0));
        } else {
            pushes.push(12);
        }
    }
    Burst {
        landed,
        pushes,
        wall: t.elapsed(),
    }
}

/// The shell step's burst: each run clones, writes its own file, commits and pushes, with
/// `git pull --rebase` and a random sleep on rejection, at most 12 pushes.
fn shell_burst(work: &Path, d: &Daemon, rep: usize) -> Burst {
    let name = format!("shell-{rep}.git");
    let seed = work.join(format!("seed-{rep}"));
    std::fs::create_dir_all(&seed).unwrap();
    git(&seed, &["init", "-q", "-b", GITOPS]);
    std::fs::write(seed.join("README"), "gitops\n").unwrap();
    git(&seed, &["add", "-A"]);
    git(&seed, &["commit", "-q", "-m", "init"]);
    git(work, &["init", "-q", "--bare", &format!("gitops/{name}")]);
    let url = format!("git://127.0.0.1:{}/{name}", d.1);
    git(&seed, &["push", "-q", &url, GITOPS]);
    let script = r#"
        set -e
        git clone -q --branch "$BRANCH" "$URL" "$DIR"
        cd "$DIR"
        mkdir -p catalog
        printf '{"digest":"%s"}\n' "$DIGEST" > "catalog/$SVC.json"
        git add -A
        git commit -q -m "promote $SVC"
        n=1
        until git push -q origin "HEAD:$BRANCH" 2>/dev/null; do
          [ "$n" -ge 12 ] && { echo "$n"; exit 1; }
          n=$((n+1))
          sleep "0.$(od -An -N2 -tu2 /dev/urandom | tr -d ' ' | cut -c1-3)"
          git pull -q --rebase origin "$BRANCH"
        done
        echo "$n"
    "#;
    let t = Instant::now();
    let children: Vec<Child> = (0..SERVICES)
        .map(|i| {
            Command::new("sh")
                .arg("-c")
                .arg(script)
                .env("BRANCH", GITOPS)
                .env("URL", &url)
                .env("DIR", work.join(format!("shell-{rep}-{i}")))
                .env("SVC", format!("svc-{i}"))
                .env("DIGEST", format!("sha256:{:064x}", 1000 + i))
                .env("GIT_AUTHOR_NAME", "bench")
                .env("GIT_AUTHOR_EMAIL", "bench@example.invalid")
                .env("GIT_COMMITTER_NAME", "bench")
                .env("GIT_COMMITTER_EMAIL", "bench@example.invalid")
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut landed = 0;
    let mut pushes = Vec::new();
    for c in children {
        let out = c.wait_with_output().unwrap();
        if out.status.success() {
            landed += 1;
        }
        pushes.push(
            String::from_utf8_lossy(&out.stdout)
                .trim()
                .parse()
                .unwrap_or(12),
        );
    }
    Burst {
        landed,
        pushes,
        wall: t.elapsed(),
    }
}

fn summary(label: &str, bursts: &[Burst]) -> f64 {
    let landed: usize = bursts.iter().map(|b| b.landed).sum();
    let mut pushes: Vec<u64> = bursts.iter().flat_map(|b| b.pushes.clone()).collect();
    pushes.sort();
    let mut walls: Vec<f64> = bursts.iter().map(|b| b.wall.as_secs_f64()).collect();
    walls.sort_by(f64::total_cmp);
    let median_wall = walls[walls.len() / 2];
    println!(
        "{label:6} landed {landed}/{} ({}), pushes per run min {} median {} max {}, burst wall time median {:.2} s (min {:.2}, max {:.2})",
        bursts.len() * SERVICES,
        bursts
            .iter()
            .map(|b| b.landed.to_string())
            .collect::<Vec<_>>()
            .join(" "),
        pushes[0],
        pushes[pushes.len() / 2],
        pushes[pushes.len() - 1],
        median_wall,
        walls[0],
        walls[walls.len() - 1],
    );
    median_wall
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(work.path().join("gitops")).unwrap();
    let d = daemon(&work.path().join("gitops"));
    println!(
        "{SERVICES} simultaneous promotes of {SERVICES} services into one GitOps branch (git daemon), {REPETITIONS} repetitions"
    );
    let mut lane_b = Vec::new();
    let mut shell_b = Vec::new();
    for rep in 0..REPETITIONS {
        lane_b.push(lane_burst(work.path(), &d, rep));
        shell_b.push(shell_burst(work.path(), &d, rep));
    }
    let l = summary("lane", &lane_b);
    let s = summary("shell", &shell_b);
    println!("burst wall time, shell / lane: {:.2}x", s / l);
}
