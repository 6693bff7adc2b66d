//! Helpers the benchmarks share: a timed command, git with a fixed identity, a real
//! `git daemon` on a random loopback port, stopped on drop, and the end-to-end lane the
//! cluster benches start from. Each bench uses some of them.
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Run `cmd` to success; its wall time and stdout.
pub fn run(cmd: &mut Command) -> (Duration, String) {
    let t = Instant::now();
    let out = cmd.output().expect("spawn");
    let d = t.elapsed();
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (d, String::from_utf8_lossy(&out.stdout).into_owned())
}

pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_AUTHOR_NAME", "bench")
        .env("GIT_AUTHOR_EMAIL", "bench@example.invalid")
        .env("GIT_COMMITTER_NAME", "bench")
        .env("GIT_COMMITTER_EMAIL", "bench@example.invalid")
        .output()
        .expect("git");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

pub struct Daemon(Child, pub u16);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn daemon(base: &Path) -> Daemon {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(git_daemon())
        .args([
            "--reuseaddr",
            "--export-all",
            "--enable=receive-pack",
            "--listen=127.0.0.1",
        ])
        .arg(format!("--base-path={}", base.display()))
        .arg(format!("--port={port}"))
        .arg(base)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("git daemon");
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "git daemon did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    Daemon(child, port)
}

/// `git-daemon` itself: `git daemon` runs it as a child, so killing `git` would leave the
/// daemon running.
fn git_daemon() -> std::path::PathBuf {
    let out = Command::new("git")
        .arg("--exec-path")
        .output()
        .expect("git --exec-path");
    std::path::PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()).join("git-daemon")
}

/// The end-to-end lane a cluster bench measures from: `scripts/e2e.sh --keep-running` run in
/// a temporary directory, and what its `summary.json` says.
pub struct E2eLane {
    /// The cluster's API server and CA (from `scripts/cluster.sh env`).
    pub api: String,
    pub ca: String,
    /// The lane binary under test.
    pub lane: &'static str,
    /// The temporary directory (removed on drop) and e2e.sh's work directory inside it.
    pub work: tempfile::TempDir,
    pub dir: PathBuf,
    /// The GitOps remote and the source checkout e2e.sh left.
    pub remote: String,
    pub source: PathBuf,
}

/// Set up the end-to-end lane for `bench`, or `None` (the bench prints that it is skipped)
/// when the cluster environment, `needs` variables included, is not there.
pub fn e2e_lane(bench: &str, needs: &[&str]) -> Option<E2eLane> {
    let env = |k: &str| std::env::var(k).ok();
    let (Some(api), Some(ca)) = (env("LANE_CLUSTER_API_SERVER"), env("LANE_CLUSTER_CA_FILE"))
    else {
        println!("{bench}: skipped: needs the cluster (scripts/cluster.sh up; eval \"$(scripts/cluster.sh env)\")");
        return None;
    };
    if let Some(missing) = needs.iter().find(|k| env(k).is_none()) {
        println!("{bench}: skipped: {missing} is not set (eval \"$(scripts/cluster.sh env)\")");
        return None;
    }
    let lane = env!("CARGO_BIN_EXE_lane");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("e2e");
    eprintln!("{bench}: setup: scripts/e2e.sh --keep-running (the first releases)");
    run(Command::new(root.join("scripts/e2e.sh"))
        .arg("--workdir")
        .arg(&dir)
        .arg("--keep-running")
        .env("LANE_BIN", lane));
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("summary.json")).unwrap()).unwrap();
    Some(E2eLane {
        api,
        ca,
        lane,
        remote: summary["remote"].as_str().unwrap().to_string(),
        source: PathBuf::from(summary["source"].as_str().unwrap()),
        work,
        dir,
    })
}
