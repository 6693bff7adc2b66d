//! A real `git daemon` serving bare repositories with push enabled, on a random loopback
//! port; killed on drop together with the per-connection children it forked (they would
//! otherwise outlive the test run).

use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct GitDaemon {
    child: Child,
    pub port: u16,
    pub base: PathBuf,
    _dir: tempfile::TempDir,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl GitDaemon {
    /// Start a daemon over a fresh base directory.
    pub fn start() -> GitDaemon {
        let dir = super::tempdir();
        let base = dir.path().to_path_buf();
        for _ in 0..5 {
            let port = free_port();
            let mut child = Command::new("git")
                .arg("daemon")
                .arg("--reuseaddr")
                .arg(format!("--base-path={}", base.display()))
                .arg("--export-all")
                .arg("--enable=receive-pack")
                .arg("--listen=127.0.0.1")
                .arg(format!("--port={port}"))
                .arg(&base)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .process_group(0)
                .spawn()
                .expect("start git daemon (is git-daemon installed?)");
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return GitDaemon {
                        child,
                        port,
                        base,
                        _dir: dir,
                    };
                }
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(30));
            }
            kill_group(&mut child);
        }
        panic!("git daemon did not start");
    }

    /// Create an empty bare repository `name` (e.g. `gitops.git`) and return its path.
    pub fn bare(&self, name: &str) -> PathBuf {
        let p = self.base.join(name);
        std::fs::create_dir_all(&p).unwrap();
        super::gitrepo::git(&p, &["init", "-q", "--bare"]);
        p
    }

    /// `git://127.0.0.1:<port>/<name>`.
    pub fn url(&self, name: &str) -> String {
        format!("git://127.0.0.1:{}/{name}", self.port)
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.base.join(name)
    }

    /// Wait until the daemon serves no connection: no process but the daemon itself is left in
    /// its process group (the receive-pack of a killed client may still be writing objects and
    /// moving a ref). Only then does `git fsck` see a repository that holds still: run while a
    /// push lands, it can read the new ref before the objects it scanned and report them
    /// missing.
    pub fn wait_idle(&self) {
        let group = self.child.id();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let busy: Vec<u32> = std::fs::read_dir("/proc")
                .unwrap()
                .flatten()
                .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
                // `git daemon` is the `git` wrapper (the group leader) and its child, the
                // daemon proper; the children serving connections are the daemon's.
                .filter(|&pid| {
                    pid != group
                        && matches!(parent_and_group(pid), Some((p, g)) if g == group && p != group)
                })
                .collect();
            if busy.is_empty() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "git daemon still serving after 60 s (pids {busy:?})"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// The parent and the process group of `pid` (fields 4 and 5 of proc(5)) while it runs;
/// `None` once it is gone or a zombie (done, waiting for the daemon to reap it).
fn parent_and_group(pid: u32) -> Option<(u32, u32)> {
    match super::proc_stat(pid)?.as_slice() {
        [state, ..] if state == "Z" => None,
        [_, parent, group, ..] => Some((parent.parse().ok()?, group.parse().ok()?)),
        _ => None,
    }
}

/// SIGKILL the daemon's process group (the daemon and the children serving connections).
fn kill_group(child: &mut Child) {
    let _ = Command::new("kill")
        .args(["-KILL", "--", &format!("-{}", child.id())])
        .stderr(Stdio::null())
        .status();
    let _ = child.kill();
    let _ = child.wait();
}

impl Drop for GitDaemon {
    fn drop(&mut self) {
        kill_group(&mut self.child);
    }
}

/// `file://` URL of a local bare repository.
pub fn file_url(path: &Path) -> String {
    format!("file://{}", path.display())
}
