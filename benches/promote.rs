//! `lane promote` against a typical shell promotion step (git clone, copy files, git add,
//! git commit, git push) on the same GitOps repository, served by a real `git daemon`, with
//! 1,000 and 10,000 commits of history (made with `git fast-import`).
//!
//! lane is timed twice: cold (a bare checkout of the source only, so promote fetches the
//! GitOps tip at depth 1) and in a PipelineRun's workspace (prepare-source has already fetched
//! the GitOps branch, untimed, so the first attempt needs no fetch and the lease confirms the
//! tip).
//!
//! Run: `cargo bench --bench promote`. Prints the median of each, the ratios, and both sizes
//! to show that lane's cost stays flat as history grows.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::{daemon, git};

const BRANCH: &str = "v0.1-gitops";
const ROUNDS: usize = 7;

fn sh(dir: &Path, script: &str) {
    let out = Command::new("sh")
        .arg("-ec")
        .arg(script)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "bench")
        .env("GIT_AUTHOR_EMAIL", "bench@example.invalid")
        .env("GIT_COMMITTER_NAME", "bench")
        .env("GIT_COMMITTER_EMAIL", "bench@example.invalid")
        .output()
        .expect("sh");
    assert!(
        out.status.success(),
        "{script}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn lane(args: &[String]) -> Duration {
    let t = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_lane"))
        .args(args)
        .arg("--quiet")
        .output()
        .expect("lane");
    let d = t.elapsed();
    assert!(
        out.status.success(),
        "lane promote: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    d
}

fn publish(dir: &Path, name: &str, commit: &str, n: u64) -> PathBuf {
    let images: Vec<serde_json::Value> =
        [("agentrun-mgr", "deployment"), ("agentrun-runner", "job")]
            .iter()
            .enumerate()
            .map(|(i, (id, kind))| {
                serde_json::json!({
                    "service": id, "kind": kind,
                    "repository": format!("127.0.0.1:5000/agentrun/{id}"),
                    "tag": commit,
                    "digest": format!("sha256:{:064x}", n * 10 + i as u64),
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

/// `n` commits on top of `tip`, each changing a few files outside the lane's two paths and
/// one inside it, written with `git fast-import`.
fn grow_history(bare: &Path, tip: &str, n: usize) {
    let mut s = String::new();
    for i in 0..n {
        s.push_str(&format!(
            "commit refs/heads/{BRANCH}\ncommitter hist <h@example.invalid> {} +0000\ndata <<EOF\nhistory {i}\nEOF\n",
            1_700_000_000 + i
        ));
        if i == 0 {
            s.push_str(&format!("from {tip}\n"));
        }
        for (path, body) in [
            (
                format!("apps/app-{}/values.yaml", i % 200),
                format!("release: {i}\n"),
            ),
            (
                format!("history/{}.log", i % 50),
                format!("entry {i}\n").repeat(20),
            ),
            (
                format!("deploy/gitops/g14/runtime-v01/notes-{}.txt", i % 3),
                format!("{i}\n"),
            ),
        ] {
            s.push_str(&format!(
                "M 100644 inline {path}\ndata {}\n{body}\n",
                body.len()
            ));
        }
    }
    let mut child = Command::new("git")
        .arg("-C")
        .arg(bare)
        .args(["fast-import", "--quiet"])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(s.as_bytes()).unwrap();
    assert!(child.wait().unwrap().success());
    git(bare, &["gc", "--quiet"]);
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn measure(history: usize) -> (Duration, Duration, Duration) {
    let root = tempfile::Builder::new()
        .prefix("lane-bench-")
        .tempdir()
        .unwrap();
    let base = root.path().join("srv");
    std::fs::create_dir_all(&base).unwrap();
    let bare = base.join("gitops.git");
    std::fs::create_dir_all(&bare).unwrap();
    git(&bare, &["init", "-q", "--bare"]);
    let d = daemon(&base);
    let url = format!("git://127.0.0.1:{}/gitops.git", d.1);

    // The source repository: the shipped deploy.json on branch v0.1.
    let src = root.path().join("src");
    std::fs::create_dir_all(src.join("deploy")).unwrap();
    std::fs::copy(
        concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/deploy.json"),
        src.join("deploy/deploy.json"),
    )
    .unwrap();
    git(&src, &["init", "-q", "-b", "v0.1"]);
    git(&src, &["add", "-A"]);
    git(&src, &["commit", "-q", "-m", "source"]);
    let commit = git(&src, &["rev-parse", "HEAD"]);

    // Lane initialisation, then the history.
    let p0 = publish(root.path(), "p0.json", &commit, 1);
    let args = |repo: &Path, p: &Path| -> Vec<String> {
        [
            "promote",
            "--repo",
            repo.to_str().unwrap(),
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
    let mut a = args(&src, &p0);
    a.push("--init".into());
    lane(&a);
    let tip = git(&bare, &["rev-parse", BRANCH]);
    grow_history(&bare, &tip, history);

    let (mut lane_t, mut ws_t, mut shell_t) = (Vec::new(), Vec::new(), Vec::new());
    let fresh_source = |name: &str| {
        let repo = root.path().join(name);
        git(
            root.path(),
            &[
                "clone",
                "-q",
                "--bare",
                src.to_str().unwrap(),
                repo.to_str().unwrap(),
            ],
        );
        repo
    };
    for round in 0..ROUNDS {
        // lane, cold: a fresh checkout of the source only; promote fetches the GitOps tip.
        let repo = fresh_source(&format!("lane-src-{round}"));
        let p = publish(
            root.path(),
            &format!("p{round}.json"),
            &commit,
            100 + round as u64,
        );
        lane_t.push(lane(&args(&repo, &p)));

        // lane in a PipelineRun workspace: prepare-source has fetched the GitOps branch
        // (untimed: the pipeline does it anyway, for plan), so promote needs no fetch.
        let repo = fresh_source(&format!("lane-ws-{round}"));
        git(
            &repo,
            &[
                "fetch",
                "-q",
                &url,
                &format!("+refs/heads/{BRANCH}:refs/remotes/origin/{BRANCH}"),
            ],
        );
        let p = publish(
            root.path(),
            &format!("w{round}.json"),
            &commit,
            500 + round as u64,
        );
        ws_t.push(lane(&args(&repo, &p)));

        // Shell: clone the GitOps branch, copy the rendered files, add, commit, push.
        let files = root.path().join(format!("files-{round}"));
        std::fs::create_dir_all(&files).unwrap();
        sh(
            &files,
            &format!("git -C {} archive {BRANCH} deploy | tar -x", bare.display()),
        );
        let work = root.path().join(format!("shell-{round}"));
        let script = format!(
            "git clone -q --branch {BRANCH} {url} {w}\n\
             rm -rf {w}/deploy/gitops/g14/runtime-v01\n\
             cp -r {f}/deploy/gitops/g14/runtime-v01 {w}/deploy/gitops/g14/\n\
             cp {f}/deploy/artifact-catalog.v01.json {w}/deploy/\n\
             echo '# round {round}' >> {w}/deploy/gitops/g14/runtime-v01/kustomization.yaml\n\
             cd {w} && git add -A && git commit -q -m 'promote {round}' && git push -q origin {BRANCH}",
            w = work.display(),
            f = files.display(),
        );
        let t = Instant::now();
        sh(root.path(), &script);
        shell_t.push(t.elapsed());
    }
    (median(lane_t), median(ws_t), median(shell_t))
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo bench -- --list` / `cargo test --benches` compatibility.
    }
    println!("lane promote vs shell promotion (clone, copy, add, commit, push), git daemon, median of {ROUNDS}");
    println!("  cold: the source checkout only, lane fetches the GitOps tip (depth 1)");
    println!(
        "  workspace: the GitOps branch already fetched by prepare-source, as in a PipelineRun"
    );
    let mut lanes = Vec::new();
    for history in [1_000usize, 10_000] {
        let (l, w, s) = measure(history);
        println!(
            "history {history:>6} commits: lane cold {:7.1} ms ({:5.2}x)   lane workspace {:7.1} ms ({:5.2}x)   shell {:8.1} ms",
            ms(l),
            s.as_secs_f64() / l.as_secs_f64(),
            ms(w),
            s.as_secs_f64() / w.as_secs_f64(),
            ms(s),
        );
        lanes.push((l, w));
    }
    println!(
        "lane cost 10,000 vs 1,000 commits: cold {:.2}x, workspace {:.2}x (flat = about 1)",
        lanes[1].0.as_secs_f64() / lanes[0].0.as_secs_f64(),
        lanes[1].1.as_secs_f64() / lanes[0].1.as_secs_f64()
    );
}
