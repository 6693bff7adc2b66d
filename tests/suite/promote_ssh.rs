//! `lane promote --ssh-directory` against a real OpenSSH server: the Tekton `ssh-directory`
//! workspace (a private key mounted 0644 and `known_hosts`) is the only credential, host keys
//! are checked strictly, and the key never shows in any output.

use crate::common;

use std::path::Path;

use common::gitrepo::{bare_repo, git};
use common::promote::*;
use common::sshd::Sshd;
use common::Run;
use lane::promote::{PromoteOutcome, PromoteReport};

struct Env {
    sshd: Sshd,
    deploy: serde_json::Value,
    src: common::gitrepo::TestRepo,
    commit: String,
    _remote_dir: tempfile::TempDir,
    remote: std::path::PathBuf,
    work: tempfile::TempDir,
    /// HOME and TMPDIR of the lane runs: no machine ssh config or key can help, and any file
    /// lane leaves behind (the private key copy, the scratch repository) would show here.
    home: tempfile::TempDir,
    tmp: tempfile::TempDir,
}

fn env() -> Env {
    let deploy = deploy_json(0);
    let src = source_repo(&deploy);
    let commit = src.head();
    let (dir, remote) = bare_repo();
    Env {
        sshd: Sshd::start(),
        deploy,
        src,
        commit,
        _remote_dir: dir,
        remote,
        work: common::tempdir(),
        home: common::tempdir(),
        tmp: common::tempdir(),
    }
}

impl Env {
    fn promote(&self, ssh_dir: &Path, base: u64, extra: &[&str]) -> Run {
        let publish = publish_file(
            self.work.path(),
            &format!("publish-{base}.json"),
            &self.commit,
            &all_images(&self.deploy, base),
        );
        let args = promote_args(
            self.src.path(),
            &self.commit,
            &self.sshd.url(&self.remote),
            &[&publish],
        );
        let mut a: Vec<&str> = args.iter().map(String::as_str).collect();
        a.extend(["--ssh-directory", ssh_dir.to_str().unwrap()]);
        a.extend_from_slice(extra);
        common::lane_env(
            Path::new("/"),
            &a,
            &[
                ("HOME", self.home.path().to_str().unwrap()),
                ("TMPDIR", self.tmp.path().to_str().unwrap()),
            ],
        )
    }

    /// Nothing of the key in any output, and nothing left in TMPDIR.
    fn assert_clean(&self, run: &Run) {
        let key = self.sshd.private_key();
        let body: String = key
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .collect::<Vec<_>>()
            .join("");
        for text in [&run.stdout, &run.stderr] {
            assert!(!text.contains("PRIVATE KEY"), "{text}");
            for chunk in body.as_bytes().chunks(24) {
                let chunk = std::str::from_utf8(chunk).unwrap();
                assert!(!text.contains(chunk), "key material in output: {text}");
            }
        }
        let left: Vec<_> = std::fs::read_dir(self.tmp.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert!(left.is_empty(), "left behind in TMPDIR: {left:?}");
    }
}

#[test]
fn pushes_over_ssh_with_the_workspace_key_and_known_hosts() {
    let e = env();
    let ws = e.sshd.workspace(&e.sshd.known_hosts_line());

    let run = e.promote(ws.path(), 100, &["--init"]);
    run.assert_code(0);
    e.assert_clean(&run);
    let rep: PromoteReport = run.report();
    assert_eq!(rep.outcome, PromoteOutcome::Committed, "{rep:?}");
    let first = remote_head(&e.remote, GITOPS_BRANCH).expect("branch pushed over ssh");
    assert_eq!(rep.commit.as_deref(), Some(first.as_str()));
    assert_eq!(remote_catalog(&e.remote).source_commit, e.commit);

    // A second release over the same transport builds on the first; the workspace path is
    // relative this time (lane runs in `/`; git runs elsewhere, so lane must resolve it).
    let relative = ws.path().strip_prefix("/").unwrap();
    let run = e.promote(relative, 200, &[]);
    run.assert_code(0);
    e.assert_clean(&run);
    let rep: PromoteReport = run.report();
    let second = remote_head(&e.remote, GITOPS_BRANCH).unwrap();
    assert_eq!(rep.commit.as_deref(), Some(second.as_str()));
    assert_eq!(rep.previous_commit.as_deref(), Some(first.as_str()));
    assert_eq!(
        remote_catalog(&e.remote).services["agentrun-mgr"].digest,
        digest(200)
    );
    git(&e.remote, &["fsck", "--strict"]);

    // The server saw the workspace key, and nothing else, authenticate.
    let log = e.sshd.log();
    assert!(
        log.contains(&format!("Accepted publickey for {}", e.sshd.user)),
        "{log}"
    );
    assert!(!log.contains("Failed"), "{log}");
}

#[test]
fn an_unknown_host_key_is_refused_and_nothing_is_pushed() {
    let e = env();
    // known_hosts names the right host with another key: strict checking must refuse it.
    let other = Sshd::start();
    let wrong = other.known_hosts_line().replacen(
        &format!(":{}", other.port),
        &format!(":{}", e.sshd.port),
        1,
    );
    let ws = e.sshd.workspace(&wrong);
    let run = e.promote(ws.path(), 100, &["--init"]);
    run.assert_code(3);
    e.assert_clean(&run);
    let msg = run.error().error.message;
    assert!(msg.contains("Host key verification failed"), "{msg}");
    assert_eq!(remote_head(&e.remote, GITOPS_BRANCH), None);
    assert!(!e.sshd.log().contains("Accepted publickey"));
}

#[test]
fn a_workspace_without_key_or_known_hosts_is_a_clear_error() {
    let e = env();
    let empty = common::tempdir();
    let run = e.promote(empty.path(), 1, &["--init"]);
    run.assert_code(3);
    let msg = run.error().error.message;
    assert!(
        msg.contains("private key") && msg.contains(empty.path().to_str().unwrap()),
        "{msg}"
    );

    let ws = e.sshd.workspace("");
    std::fs::remove_file(ws.path().join("known_hosts")).unwrap();
    let run = e.promote(ws.path(), 100, &["--init"]);
    run.assert_code(3);
    let msg = run.error().error.message;
    assert!(msg.contains("known_hosts"), "{msg}");
    e.assert_clean(&run);
    assert_eq!(remote_head(&e.remote, GITOPS_BRANCH), None);
}

#[test]
fn an_ssh_auth_secret_layout_with_a_config_file_is_used() {
    let e = env();
    // A kubernetes.io/ssh-auth Secret names the key `ssh-privatekey`; the workspace's ssh
    // `config` gives the host an alias, so the push can only work if that config is used.
    let ws = e.sshd.workspace(&e.sshd.known_hosts_line());
    std::fs::rename(
        ws.path().join("id_ed25519"),
        ws.path().join("ssh-privatekey"),
    )
    .unwrap();
    std::fs::write(
        ws.path().join("config"),
        format!(
            "Host lane-gitops\n  HostName 127.0.0.1\n  Port {}\n  User {}\n",
            e.sshd.port, e.sshd.user
        ),
    )
    .unwrap();
    let publish = publish_file(
        e.work.path(),
        "publish.json",
        &e.commit,
        &all_images(&e.deploy, 300),
    );
    let url = format!("lane-gitops:{}", e.remote.display());
    let args = promote_args(e.src.path(), &e.commit, &url, &[&publish]);
    let mut a: Vec<&str> = args.iter().map(String::as_str).collect();
    a.extend(["--init", "--ssh-directory", ws.path().to_str().unwrap()]);
    let run = common::lane_env(
        Path::new("/"),
        &a,
        &[
            ("HOME", e.home.path().to_str().unwrap()),
            ("TMPDIR", e.tmp.path().to_str().unwrap()),
        ],
    );
    run.assert_code(0);
    e.assert_clean(&run);
    assert_eq!(
        run.report::<PromoteReport>().commit.map(String::from),
        remote_head(&e.remote, GITOPS_BRANCH)
    );
}
