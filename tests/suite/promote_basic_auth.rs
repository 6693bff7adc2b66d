//! `lane promote --basic-auth DIR` against a real git smart-HTTP server (`git http-backend`
//! behind `tests/fixtures/git_http_server.py`) that requires HTTP basic auth: the token in
//! `DIR/.git-credentials` (the Tekton basic-auth workspace format) must be what gets the push
//! through, and a wrong or missing credential must fail fast with the environment exit code,
//! push nothing and print no secret.

use crate::common;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::gitrepo::{git, TestRepo};
use common::promote::*;
use common::tools;
use lane::error::ExitClass;
use lane::promote::{PromoteOutcome, PromoteReport};
use serde_json::Value;

const USER: &str = "lane-bot";
/// Not shaped like any token the secret scrubber knows, so a leak cannot be hidden by
/// redaction: the only way to keep it out of the output is never to print it.
const TOKEN: &str = "Lq7vXw2RtK9mNp4ZsB8yHc3D";
const WRONG_TOKEN: &str = "Wr0ngT0kenQz5Jd8Fx1Gk6Vb";
/// A hung git prompt would otherwise hang the test run.
const LANE_TIMEOUT: Duration = Duration::from_secs(120);

/// The basic-auth git HTTP server; killed on drop.
struct GitHttp {
    child: Child,
    port: u16,
    root: PathBuf,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl GitHttp {
    fn start(user: &str, password: &str) -> GitHttp {
        tools::require("git");
        let dir = common::tempdir();
        let root = dir.path().join("repos");
        std::fs::create_dir_all(&root).unwrap();
        let password_file = dir.path().join("password");
        std::fs::write(&password_file, password).unwrap();
        let log = dir.path().join("requests.log");
        std::fs::write(&log, "").unwrap();
        let (child, port) = tools::start_fixture(
            "git_http_server.py",
            &[
                "--root".as_ref(),
                root.as_os_str(),
                "--user".as_ref(),
                user.as_ref(),
                "--password-file".as_ref(),
                password_file.as_os_str(),
                "--log".as_ref(),
                log.as_os_str(),
            ],
        );
        GitHttp {
            child,
            port,
            root,
            log,
            _dir: dir,
        }
    }

    /// An empty bare repository `name`. Push is enabled by the server's `REMOTE_USER` (set
    /// only for authorized requests), not by `http.receivepack`.
    fn bare(&self, name: &str) -> PathBuf {
        let p = self.root.join(name);
        std::fs::create_dir_all(&p).unwrap();
        git(&p, &["init", "-q", "--bare"]);
        p
    }

    fn url(&self, name: &str) -> String {
        format!("http://127.0.0.1:{}/{name}", self.port)
    }

    /// The `.git-credentials` line for this server.
    fn credential_line(&self, user: &str, token: &str) -> String {
        format!("http://{user}:{token}@127.0.0.1:{}\n", self.port)
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap()
    }

    /// Every request answered so far, oldest first. The server fixture's log, not a lane
    /// document: its lines stay `Value`.
    fn requests(&self) -> Vec<Value> {
        self.log_text()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("log line {l:?}: {e}")))
            .collect()
    }
}

impl Drop for GitHttp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn is_receive_pack(r: &Value) -> bool {
    r["service"] == "git-receive-pack"
}

fn authorized(r: &Value) -> bool {
    r["auth"] == "ok" && r["user"] == USER && r["status"] == 200
}

/// A request refused although it offered the workspace's user: a wrong password was sent
/// (git's empty prompt answer shows as `auth: bad` with no user).
fn refused_credential(r: &Value) -> bool {
    r["status"] == 401 && r["auth"] == "bad" && r["user"] == USER
}

/// Render the request log for assertion messages.
fn show_log(reqs: &[Value]) -> String {
    reqs.iter()
        .map(Value::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

/// A source repository, a GitOps bare repository behind the HTTP server, a credential
/// workspace and an empty home for lane's git.
struct Setup {
    deploy: Value,
    src: TestRepo,
    commit: String,
    server: GitHttp,
    remote: PathBuf,
    work: tempfile::TempDir,
    home: tempfile::TempDir,
}

fn setup() -> Setup {
    let deploy = deploy_json(0);
    let src = source_repo(&deploy);
    let commit = src.head();
    let server = GitHttp::start(USER, TOKEN);
    let remote = server.bare("gitops.git");
    Setup {
        deploy,
        src,
        commit,
        server,
        remote,
        work: common::tempdir(),
        home: common::tempdir(),
    }
}

impl Setup {
    fn publish(&self, name: &str, commit: &str, base: u64) -> PathBuf {
        publish_file(
            self.work.path(),
            name,
            commit,
            &all_images(&self.deploy, base),
        )
    }

    /// A second source commit (the manager changed) and its publish result.
    fn second_commit(&self) -> (String, PathBuf) {
        self.src.write("apps/mgr/main.go", "package main\n");
        let c2 = self.src.commit("mgr change");
        let p2 = self.publish("p2.json", &c2, 50);
        (c2, p2)
    }

    /// A Tekton basic-auth workspace whose `.git-credentials` holds `token` for the server.
    fn credentials(&self, token: &str) -> tempfile::TempDir {
        let dir = common::tempdir();
        std::fs::write(
            dir.path().join(".git-credentials"),
            self.server.credential_line(USER, token),
        )
        .unwrap();
        dir
    }

    /// `lane promote` to the server's `gitops.git` with `extra` arguments, in an environment
    /// where git can find no credential but the ones lane hands it: an empty HOME and
    /// XDG_CONFIG_HOME, no system config, no config from the environment.
    fn promote(&self, commit: &str, publish: &Path, extra: &[&str]) -> common::Run {
        let args = promote_args(
            self.src.path(),
            commit,
            &self.server.url("gitops.git"),
            &[publish],
        );
        let mut a: Vec<&str> = args.iter().map(String::as_str).collect();
        a.extend_from_slice(extra);
        let home = self.home.path().to_str().unwrap();
        let global = self.home.path().join(".gitconfig");
        assert!(!global.exists(), "the isolated home must stay empty");
        lane_isolated(
            &a,
            &[
                ("HOME", home),
                ("XDG_CONFIG_HOME", home),
                ("GIT_CONFIG_NOSYSTEM", "1"),
                ("GIT_CONFIG_GLOBAL", global.to_str().unwrap()),
                ("GIT_CONFIG_COUNT", "0"),
                ("GIT_CONFIG_PARAMETERS", ""),
            ],
        )
    }
}

/// Run lane with stdin closed and a deadline: a credential prompt must fail, not hang.
fn lane_isolated(args: &[&str], env: &[(&str, &str)]) -> common::Run {
    let mut cmd = Command::new(common::lane_bin());
    cmd.current_dir("/")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("run lane");
    let drain = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = r.read_to_end(&mut buf);
            String::from_utf8_lossy(&buf).into_owned()
        })
    };
    let out = drain(Box::new(child.stdout.take().unwrap()));
    let err = drain(Box::new(child.stderr.take().unwrap()));
    let deadline = Instant::now() + LANE_TIMEOUT;
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            // (stderr is not joined: a git child still holding the pipe would block it.)
            panic!("lane {args:?} still running after {LANE_TIMEOUT:?} (a credential prompt?)");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    common::Run {
        code: status.code().unwrap_or(-1),
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    }
}

/// No secret in lane's output: neither token, nor the basic credential as sent on the wire,
/// nor a `user:password@` URL.
fn assert_no_secrets(run: &common::Run) {
    for secret in [TOKEN, WRONG_TOKEN] {
        let wire = lane::encoding::base64_encode(format!("{USER}:{secret}").as_bytes());
        for (name, text) in [("stdout", &run.stdout), ("stderr", &run.stderr)] {
            assert!(!text.contains(secret), "token in {name}:\n{text}");
            assert!(!text.contains(&wire), "basic credential in {name}:\n{text}");
            assert!(
                !text.contains(&format!("{USER}:")),
                "user:… in {name}:\n{text}"
            );
        }
    }
}

/// Neither token reaches the server log (the fixture logs whether auth was present, never
/// its value).
fn assert_log_clean(server: &GitHttp) {
    let log = server.log_text();
    assert!(!log.contains(TOKEN) && !log.contains(WRONG_TOKEN), "{log}");
}

/// The lane's first release through the basic-auth workspace; returns the pushed commit.
fn init_release(s: &Setup, creds: &Path) -> String {
    let publish = s.publish("p1.json", &s.commit, 1);
    let run = s.promote(
        &s.commit,
        &publish,
        &["--init", "--basic-auth", creds.to_str().unwrap()],
    );
    run.assert_code(0);
    assert_no_secrets(&run);
    let rep: PromoteReport = run.report();
    assert_eq!(rep.outcome, PromoteOutcome::Committed, "{rep:?}");
    let head = remote_head(&s.remote, GITOPS_BRANCH).expect("GitOps branch pushed over HTTP");
    assert_eq!(rep.commit.as_deref(), Some(head.as_str()), "{rep:?}");
    head
}

#[test]
fn init_pushes_through_the_basic_auth_workspace() {
    let s = setup();
    let creds = s.credentials(TOKEN);
    assert_eq!(remote_head(&s.remote, GITOPS_BRANCH), None);
    let head = init_release(&s, creds.path());

    let cat = remote_catalog(&s.remote);
    assert_eq!(cat.source_commit, s.commit);
    for (id, _, d) in all_images(&s.deploy, 1) {
        assert_eq!(cat.services[&id].digest, d, "{id}");
    }
    git(&s.remote, &["fsck", "--strict"]);

    // The server asked for credentials first, and the push went through authorized.
    let reqs = s.server.requests();
    let log = show_log(&reqs);
    assert!(!reqs.is_empty(), "lane never reached the server");
    assert_eq!(
        reqs[0]["status"], 401,
        "first answer is the challenge:\n{log}"
    );
    assert_eq!(reqs[0]["auth"], "none", "{log}");
    assert!(
        reqs.iter().all(|r| r["auth"] != "bad"),
        "the workspace token was refused:\n{log}"
    );
    assert!(
        reqs.iter()
            .any(|r| is_receive_pack(r) && authorized(r) && r["method"] == "GET"),
        "no authorized receive-pack advertisement:\n{log}"
    );
    assert!(
        reqs.iter()
            .any(|r| is_receive_pack(r) && authorized(r) && r["method"] == "POST"),
        "no authorized receive-pack push:\n{log}"
    );
    assert!(
        reqs.iter()
            .filter(|r| r["status"] == 200)
            .all(|r| r["auth"] == "ok"),
        "{log}"
    );
    assert_log_clean(&s.server);
    assert_eq!(remote_head(&s.remote, GITOPS_BRANCH).unwrap(), head);
}

#[test]
fn update_pushes_through_the_basic_auth_workspace() {
    let s = setup();
    let creds = s.credentials(TOKEN);
    let first = init_release(&s, creds.path());
    let before = s.server.requests().len();

    let (c2, p2) = s.second_commit();
    let run = s.promote(&c2, &p2, &["--basic-auth", creds.path().to_str().unwrap()]);
    run.assert_code(0);
    assert_no_secrets(&run);
    let rep: PromoteReport = run.report();
    assert_eq!(rep.outcome, PromoteOutcome::Committed, "{rep:?}");
    assert_eq!(
        rep.previous_commit.as_deref(),
        Some(first.as_str()),
        "{rep:?}"
    );
    let head = remote_head(&s.remote, GITOPS_BRANCH).unwrap();
    assert_ne!(head, first);
    assert_eq!(rep.commit.as_deref(), Some(head.as_str()), "{rep:?}");
    assert_eq!(git(&s.remote, &["rev-parse", &format!("{head}^")]), first);
    let cat = remote_catalog(&s.remote);
    assert_eq!(cat.source_commit, c2);
    for (id, _, d) in all_images(&s.deploy, 50) {
        assert_eq!(cat.services[&id].digest, d, "{id}");
    }
    git(&s.remote, &["fsck", "--strict"]);

    let reqs = s.server.requests();
    let second = &reqs[before..];
    let log = show_log(second);
    assert!(
        second
            .iter()
            .any(|r| is_receive_pack(r) && authorized(r) && r["method"] == "POST"),
        "the update was not pushed through the authorized server:\n{log}"
    );
    assert!(second.iter().all(|r| r["auth"] != "bad"), "{log}");
    assert_log_clean(&s.server);
}

/// The error document of a failed promote must name the remote's refusal.
fn assert_remote_failure(run: &common::Run, s: &Setup) {
    run.assert_code(3);
    assert_no_secrets(run);
    // error() checks ok: false and that exitCode is the process's (3, checked above).
    let doc = run.error();
    assert!(!doc.ok, "{doc:?}");
    assert_eq!(doc.exit_code, 3, "{doc:?}");
    assert_eq!(doc.error.class, ExitClass::Environment, "{doc:?}");
    let message = &doc.error.message;
    assert!(
        message.contains("Authentication failed")
            && message.contains(&format!("127.0.0.1:{}", s.server.port)),
        "the error does not name the remote's refusal: {doc:?}"
    );
}

#[test]
fn wrong_token_fails_with_environment_code_and_pushes_nothing() {
    let s = setup();
    let wrong = s.credentials(WRONG_TOKEN);
    let publish = s.publish("p1.json", &s.commit, 1);

    // On an uninitialised lane: nothing is created.
    let run = s.promote(
        &s.commit,
        &publish,
        &["--init", "--basic-auth", wrong.path().to_str().unwrap()],
    );
    assert_remote_failure(&run, &s);
    assert_eq!(
        remote_head(&s.remote, GITOPS_BRANCH),
        None,
        "nothing pushed"
    );
    let reqs = s.server.requests();
    let log = show_log(&reqs);
    assert!(
        reqs.iter().any(refused_credential),
        "the wrong token was never offered to the server:\n{log}"
    );
    assert!(
        reqs.iter().all(|r| r["auth"] != "ok" && r["status"] == 401),
        "{log}"
    );

    // On an initialised lane: the branch does not move.
    let good = s.credentials(TOKEN);
    let head = init_release(&s, good.path());
    let before = s.server.requests().len();
    let (c2, p2) = s.second_commit();
    let wrong = s.credentials(WRONG_TOKEN);
    let run = s.promote(&c2, &p2, &["--basic-auth", wrong.path().to_str().unwrap()]);
    assert_remote_failure(&run, &s);
    assert_eq!(remote_head(&s.remote, GITOPS_BRANCH).unwrap(), head);
    let reqs = s.server.requests();
    let log = show_log(&reqs[before..]);
    assert!(
        reqs[before..].iter().any(refused_credential),
        "the wrong token was never offered to the server:\n{log}"
    );
    assert!(
        reqs[before..]
            .iter()
            .all(|r| r["auth"] != "ok" && !(is_receive_pack(r) && r["method"] == "POST")),
        "{log}"
    );
    assert_log_clean(&s.server);
}

#[test]
fn no_credentials_fail_fast_with_environment_code() {
    let s = setup();
    let publish = s.publish("p1.json", &s.commit, 1);
    let started = Instant::now();
    let run = s.promote(&s.commit, &publish, &["--init"]);
    assert_remote_failure(&run, &s);
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(
        remote_head(&s.remote, GITOPS_BRANCH),
        None,
        "nothing pushed"
    );
    let reqs = s.server.requests();
    let log = show_log(&reqs);
    assert!(!reqs.is_empty(), "lane never reached the server");
    assert_eq!(reqs[0]["status"], 401, "{log}");
    assert!(
        reqs.iter().all(|r| r["status"] == 401 && r["auth"] != "ok"),
        "{log}"
    );
    assert!(
        !reqs.iter().any(|r| r["user"] == USER),
        "a credential came from somewhere:\n{log}"
    );
    assert!(!reqs.iter().any(|r| r["method"] == "POST"), "{log}");
}

// Two bugs this fixture found (fixed): relative workspace paths, and writes to the workspace.

#[test]
fn relative_basic_auth_path_is_used() {
    let s = setup();
    let creds = s.credentials(TOKEN);
    // lane runs in `/`: the workspace path without its leading `/` is relative to it.
    let relative = creds.path().strip_prefix("/").unwrap().to_str().unwrap();
    let publish = s.publish("p1.json", &s.commit, 1);
    let run = s.promote(&s.commit, &publish, &["--init", "--basic-auth", relative]);
    run.assert_code(0);
    assert_no_secrets(&run);
    assert_eq!(
        run.report::<PromoteReport>().commit.map(String::from),
        remote_head(&s.remote, GITOPS_BRANCH)
    );
}

#[test]
fn the_workspace_is_never_written() {
    let s = setup();
    let publish = s.publish("p1.json", &s.commit, 1);
    let wrong = s.credentials(WRONG_TOKEN);
    let file = wrong.path().join(".git-credentials");
    let before = std::fs::read(&file).unwrap();
    let run = s.promote(
        &s.commit,
        &publish,
        &["--init", "--basic-auth", wrong.path().to_str().unwrap()],
    );
    run.assert_code(3);
    assert!(
        std::fs::read(&file).unwrap() == before,
        "a refused credential was removed from the workspace"
    );
    let good = s.credentials(TOKEN);
    let file = good.path().join(".git-credentials");
    let before = std::fs::read(&file).unwrap();
    init_release(&s, good.path());
    assert!(
        std::fs::read(&file).unwrap() == before,
        "an accepted credential was rewritten in the workspace"
    );
}
