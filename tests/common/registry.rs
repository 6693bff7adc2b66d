//! A real registry (Debian's `docker-registry`, distribution 2.8) on a random loopback port.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Registry {
    child: Child,
    pub host: String,
    _dir: tempfile::TempDir,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Registry {
    /// Start a registry; `htpasswd` enables basic auth with that file's users.
    // The child moves into `Registry`, whose Drop kills and waits for it.
    #[allow(clippy::zombie_processes)]
    pub fn start_with(htpasswd: Option<PathBuf>) -> Registry {
        let bin = super::tools::require("docker-registry");
        let dir = super::tempdir();
        for _attempt in 0..5 {
            let port = free_port();
            let auth = match &htpasswd {
                Some(p) => format!(
                    "auth:\n  htpasswd:\n    realm: lane-test\n    path: {}\n",
                    p.display()
                ),
                None => String::new(),
            };
            let cfg = format!(
                "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n{auth}",
                dir.path().join("data").display()
            );
            let cfg_path = dir.path().join(format!("config-{port}.yml"));
            std::fs::write(&cfg_path, cfg).unwrap();
            let mut child = Command::new(&bin)
                .arg("serve")
                .arg(&cfg_path)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start docker-registry");
            let host = format!("127.0.0.1:{port}");
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if std::net::TcpStream::connect(&host).is_ok() {
                    return Registry {
                        child,
                        host,
                        _dir: dir,
                    };
                }
                if let Ok(Some(_)) = child.try_wait() {
                    break; // port taken: try another
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("docker-registry did not start");
    }

    pub fn start() -> Registry {
        Registry::start_with(None)
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
