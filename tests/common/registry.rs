//! A real registry (Debian's `docker-registry`, distribution 2.8) on a random loopback port.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How the registry controls access.
pub enum Auth {
    None,
    /// Basic auth with the users of a bcrypt htpasswd file.
    Htpasswd(PathBuf),
    /// The Docker token flow: clients are sent to `realm` for a JWT signed by the key of
    /// `root_cert`, issued by `issuer` for `service`.
    Token {
        realm: String,
        service: String,
        issuer: String,
        root_cert: PathBuf,
    },
}

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
    pub fn start_with(htpasswd: Option<PathBuf>) -> Registry {
        Registry::start_auth(match htpasswd {
            Some(p) => Auth::Htpasswd(p),
            None => Auth::None,
        })
    }

    /// Start a registry with the given access control.
    // The child moves into `Registry`, whose Drop kills and waits for it.
    #[allow(clippy::zombie_processes)]
    pub fn start_auth(auth: Auth) -> Registry {
        let bin = super::tools::require("docker-registry");
        let dir = super::tempdir();
        for _attempt in 0..5 {
            let port = free_port();
            let auth = match &auth {
                Auth::Htpasswd(p) => format!(
                    "auth:\n  htpasswd:\n    realm: lane-test\n    path: {}\n",
                    p.display()
                ),
                Auth::Token {
                    realm,
                    service,
                    issuer,
                    root_cert,
                } => format!(
                    "auth:\n  token:\n    realm: {realm}\n    service: {service}\n    issuer: {issuer}\n    rootcertbundle: {}\n",
                    root_cert.display()
                ),
                Auth::None => String::new(),
            };
            // The storage settings of the registry:2 image's default config (in-memory blob
            // descriptor cache), plus deletes for the "reused digest deleted" cases.
            let cfg = format!(
                "version: 0.1\nlog:\n  level: error\nstorage:\n  cache:\n    blobdescriptor: inmemory\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n{auth}",
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

    /// CPU time (user + system) the registry process has used so far, from
    /// `/proc/<pid>/stat` (benchmarks report how much of a run was the registry's work).
    pub fn cpu_time(&self) -> Duration {
        // utime and stime are fields 14 and 15 of proc(5).
        let f = super::proc_stat(self.child.id()).expect("registry /proc stat");
        let ticks: u64 = f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap();
        Duration::from_millis(ticks * 1000 / clock_ticks())
    }
}

/// `getconf CLK_TCK` (the unit of /proc times; 100 on Linux in practice).
fn clock_ticks() -> u64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100)
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A token service for [`Auth::Token`] (tests/fixtures/token_server.py): checks basic
/// credentials and issues RS256 JWTs the registry trusts. Killed on drop.
pub struct TokenServer {
    child: Child,
    pub realm: String,
    pub service: String,
    pub issuer: String,
    pub cert: PathBuf,
    /// One JSON line per token request (scopes, user, granted, the issued token).
    pub log: PathBuf,
}

impl TokenServer {
    pub fn start(dir: &std::path::Path, user: &str, password: &str) -> TokenServer {
        let openssl = super::tools::require("openssl");
        let key = dir.join("token-key.pem");
        let cert = dir.join("token-cert.pem");
        let out = Command::new(openssl)
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            ])
            .args(["-subj", "/CN=lane-test-token-issuer", "-keyout"])
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "openssl req: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let password_file = dir.join("token-password");
        std::fs::write(&password_file, password).unwrap();
        let log = dir.join("token-requests.log");
        std::fs::write(&log, "").unwrap();
        let (issuer, service) = ("lane-test-issuer", "lane-test-registry");
        let (child, port) = super::tools::start_fixture(
            "token_server.py",
            &[
                "--key".as_ref(),
                key.as_os_str(),
                "--cert".as_ref(),
                cert.as_os_str(),
                "--issuer".as_ref(),
                issuer.as_ref(),
                "--service".as_ref(),
                service.as_ref(),
                "--user".as_ref(),
                user.as_ref(),
                "--password-file".as_ref(),
                password_file.as_os_str(),
                "--log".as_ref(),
                log.as_os_str(),
            ],
        );
        TokenServer {
            child,
            realm: format!("http://127.0.0.1:{port}/token"),
            service: service.into(),
            issuer: issuer.into(),
            cert,
            log,
        }
    }

    /// The registry access control that sends clients to this server.
    pub fn auth(&self) -> Auth {
        Auth::Token {
            realm: self.realm.clone(),
            service: self.service.clone(),
            issuer: self.issuer.clone(),
            root_cert: self.cert.clone(),
        }
    }

    /// Every token request so far.
    pub fn requests(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(&self.log)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

impl Drop for TokenServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
