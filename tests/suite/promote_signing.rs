//! Signed GitOps commits: `lane promote --signing-key` signs with an `ssh-keygen`-made key as
//! git's `gpg.format=ssh` does, `git verify-commit` (with `gpg.ssh.allowedSignersFile`) is the
//! independent check, and `lane verify --allowed-signers` fails the gitops group naming the
//! commit and why: unsigned, an unknown key, a bad signature. Against a real `git daemon`.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::gitd::GitDaemon;
use common::gitrepo::git;
use common::promote::*;
use common::Run;
use lane::git::sign::SignatureState;
use lane::promote::{PromoteOutcome, PromoteReport};
use lane::verify::{Check, Status, VerifyReport};

/// An ed25519 key pair made by ssh-keygen; the private file is left 0644, as a Tekton
/// workspace mounts a Secret.
struct Key {
    private: PathBuf,
    public: String,
    fingerprint: String,
}

fn keygen(dir: &Path, name: &str, passphrase: &str) -> Key {
    let private = dir.join(name);
    let out = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-C", name, "-N", passphrase, "-f"])
        .arg(&private)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o644)).unwrap();
    let public = std::fs::read_to_string(private.with_extension("pub")).unwrap();
    let out = Command::new("ssh-keygen")
        .arg("-lf")
        .arg(private.with_extension("pub"))
        .output()
        .unwrap();
    let fingerprint = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .nth(1)
        .unwrap()
        .to_string();
    Key {
        private,
        public: public.trim().to_string(),
        fingerprint,
    }
}

/// An allowed-signers file naming `keys` for git.
fn allowed_signers(dir: &Path, name: &str, keys: &[(&str, &Key)]) -> PathBuf {
    let p = dir.join(name);
    let lines: Vec<String> = keys
        .iter()
        .map(|(who, k)| format!("{who} namespaces=\"git\" {}", k.public))
        .collect();
    std::fs::write(&p, lines.join("\n") + "\n").unwrap();
    p
}

/// `git verify-commit` of `commit` in `repo` with `allowed` as gpg.ssh.allowedSignersFile.
fn git_verify_commit(repo: &Path, allowed: &Path, commit: &str) -> (bool, String) {
    let out = Command::new("git")
        .arg("-C")
        .arg(repo)
        .arg("-c")
        .arg("gpg.format=ssh")
        .arg("-c")
        .arg(format!("gpg.ssh.allowedSignersFile={}", allowed.display()))
        .args(["verify-commit", "--raw", commit])
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", repo)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

struct Env {
    d: GitDaemon,
    deploy: serde_json::Value,
    src: common::gitrepo::TestRepo,
    work: tempfile::TempDir,
    tmp: tempfile::TempDir,
    keys: tempfile::TempDir,
}

fn env() -> Env {
    let d = GitDaemon::start();
    d.bare("gitops.git");
    let deploy = deploy_json(0);
    Env {
        d,
        src: source_repo(&deploy),
        deploy,
        work: common::tempdir(),
        tmp: common::tempdir(),
        keys: common::tempdir(),
    }
}

impl Env {
    fn remote(&self) -> String {
        self.d.url("gitops.git")
    }

    fn bare(&self) -> PathBuf {
        self.d.path("gitops.git")
    }

    fn promote(&self, commit: &str, base: u64, extra: &[&str], envs: &[(&str, &str)]) -> Run {
        let publish = publish_file(
            self.work.path(),
            &format!("publish-{base}.json"),
            commit,
            &all_images(&self.deploy, base),
        );
        let args = promote_args(self.src.path(), commit, &self.remote(), &[&publish]);
        let mut a: Vec<&str> = args.iter().map(String::as_str).collect();
        a.extend_from_slice(extra);
        let mut e = vec![("TMPDIR", self.tmp.path().to_str().unwrap())];
        e.extend_from_slice(envs);
        common::lane_env(Path::new("/"), &a, &e)
    }

    fn verify(&self, commit: &str, allowed: &Path) -> Run {
        common::lane_env(
            Path::new("/"),
            &[
                "verify",
                "--only",
                "gitops",
                "--repo",
                self.src.path().to_str().unwrap(),
                "--commit",
                commit,
                "--gitops-remote",
                &self.remote(),
                "--allowed-signers",
                allowed.to_str().unwrap(),
            ],
            &[("TMPDIR", self.tmp.path().to_str().unwrap())],
        )
    }

    /// No byte of the private key in any output, and nothing left in TMPDIR.
    fn assert_clean(&self, run: &Run, key: &Key) {
        let text = std::fs::read_to_string(&key.private).unwrap();
        let body: String = text.lines().filter(|l| !l.starts_with("-----")).collect();
        for out in [&run.stdout, &run.stderr] {
            assert!(!out.contains("PRIVATE KEY"), "{out}");
            for chunk in body.as_bytes().chunks(20) {
                let chunk = std::str::from_utf8(chunk).unwrap();
                assert!(!out.contains(chunk), "key material in output: {out}");
            }
        }
        let left: Vec<_> = std::fs::read_dir(self.tmp.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert!(left.is_empty(), "left behind in TMPDIR: {left:?}");
    }
}

/// The `gitops.signature` check of a verify run.
fn signature_check(run: &Run) -> Check {
    let v: VerifyReport = run.report();
    v.checks
        .iter()
        .find(|c| c.id == "gitops.signature")
        .unwrap_or_else(|| panic!("no gitops.signature check: {v:?}"))
        .clone()
}

/// The signature state a `gitops.signature` check records. A check's `evidence` is free-form
/// per check (`serde_json::Value`); this one's `signature` is a [`SignatureState`].
fn signature_state(c: &Check) -> SignatureState {
    serde_json::from_value(c.evidence["signature"].clone())
        .unwrap_or_else(|e| panic!("evidence.signature is no signature state ({e}): {c:?}"))
}

#[test]
fn promote_signs_with_the_workspace_key_and_git_verify_commit_agrees() {
    let e = env();
    let ops = keygen(e.keys.path(), "lane-promote", "");
    let other = keygen(e.keys.path(), "someone-else", "");
    let allowed = allowed_signers(
        e.keys.path(),
        "allowed",
        &[("lane-ci@example.invalid", &ops)],
    );
    let only_other = allowed_signers(
        e.keys.path(),
        "only-other",
        &[("other@example.invalid", &other)],
    );
    let commit = e.src.head();

    // The key comes from the environment form, as a Tekton step passes it.
    let run = e.promote(
        &commit,
        100,
        &["--init"],
        &[("LANE_SIGNING_KEY", ops.private.to_str().unwrap())],
    );
    run.assert_code(0);
    e.assert_clean(&run, &ops);
    let rep: PromoteReport = run.report();
    assert_eq!(rep.outcome, PromoteOutcome::Committed, "{rep:?}");
    assert_eq!(
        rep.signed_by.as_deref(),
        Some(ops.fingerprint.as_str()),
        "{rep:?}"
    );
    let head = remote_head(&e.bare(), GITOPS_BRANCH).unwrap();
    assert_eq!(rep.commit.as_deref(), Some(head.as_str()));

    // git itself: a good signature by the allowed key; not trusted by another file.
    let (ok, why) = git_verify_commit(&e.bare(), &allowed, &head);
    assert!(ok, "git verify-commit refused lane's signature: {why}");
    assert!(why.contains(&ops.fingerprint), "{why}");
    let (ok, why) = git_verify_commit(&e.bare(), &only_other, &head);
    assert!(
        !ok,
        "git verify-commit trusted a key the file does not name: {why}"
    );
    git(&e.bare(), &["fsck", "--strict"]);

    // lane verify agrees with git.
    let run = e.verify(&commit, &allowed);
    let c = signature_check(&run);
    assert_eq!(c.status, Status::Pass, "{c:?}");
    assert!(c.message.contains("lane-ci@example.invalid"), "{c:?}");
    run.assert_code(0);
    let run = e.verify(&commit, &only_other);
    run.assert_code(1);
    let c = signature_check(&run);
    assert_eq!(c.status, Status::Fail);
    let msg = &c.message;
    assert!(msg.contains(&head) && msg.contains("unknown key"), "{msg}");
    assert!(msg.contains(&ops.fingerprint), "{msg}");
}

#[test]
fn verify_names_the_commit_and_why_it_is_not_trusted() {
    let e = env();
    let ops = keygen(e.keys.path(), "lane-promote", "");
    let intruder = keygen(e.keys.path(), "intruder", "");
    let allowed = allowed_signers(
        e.keys.path(),
        "allowed",
        &[("lane-ci@example.invalid", &ops)],
    );
    let first = e.src.head();

    // Unsigned.
    e.promote(&first, 100, &["--init"], &[]).assert_code(0);
    let head = remote_head(&e.bare(), GITOPS_BRANCH).unwrap();
    let run = e.verify(&first, &allowed);
    run.assert_code(1);
    let c = signature_check(&run);
    assert_eq!(c.status, Status::Fail);
    assert_eq!(signature_state(&c), SignatureState::Unsigned, "{c:?}");
    let msg = &c.message;
    assert!(msg.contains(&head) && msg.contains("unsigned"), "{msg}");
    assert!(!git_verify_commit(&e.bare(), &allowed, &head).0);

    // Signed by a key not in allowed-signers: git agrees it is not trusted.
    let second = e.src.commit("source: second");
    let key = intruder.private.to_str().unwrap();
    e.promote(&second, 200, &["--signing-key", key], &[])
        .assert_code(0);
    let head = remote_head(&e.bare(), GITOPS_BRANCH).unwrap();
    let (ok, why) = git_verify_commit(&e.bare(), &allowed, &head);
    assert!(!ok, "{why}");
    let run = e.verify(&second, &allowed);
    run.assert_code(1);
    let c = signature_check(&run);
    assert_eq!(
        signature_state(&c),
        SignatureState::UnknownKey {
            fingerprint: intruder.fingerprint.clone()
        },
        "{c:?}"
    );
    assert!(c.message.contains(&head));

    // A bad signature: the allowed key's signature moved onto a changed commit (the message
    // edited after signing), pushed by hand.
    let third = e.src.commit("source: third");
    e.promote(
        &third,
        300,
        &["--signing-key", ops.private.to_str().unwrap()],
        &[],
    )
    .assert_code(0);
    let signed = remote_head(&e.bare(), GITOPS_BRANCH).unwrap();
    assert!(git_verify_commit(&e.bare(), &allowed, &signed).0);
    let raw = git(&e.bare(), &["cat-file", "commit", &signed]);
    let forged_raw = raw.replacen("lane v0.1: promote", "lane v0.1: promote (edited)", 1) + "\n";
    assert_ne!(raw, forged_raw);
    let obj = e.work.path().join("forged");
    std::fs::write(&obj, forged_raw).unwrap();
    let forged = git(
        &e.bare(),
        &["hash-object", "-t", "commit", "-w", obj.to_str().unwrap()],
    );
    git(
        &e.bare(),
        &[
            "update-ref",
            &format!("refs/heads/{GITOPS_BRANCH}"),
            &forged,
            &signed,
        ],
    );
    let (ok, why) = git_verify_commit(&e.bare(), &allowed, &forged);
    assert!(!ok, "git accepted the forged commit: {why}");
    let run = e.verify(&third, &allowed);
    run.assert_code(1);
    let c = signature_check(&run);
    assert!(
        matches!(signature_state(&c), SignatureState::Bad { .. }),
        "{c:?}"
    );
    let msg = &c.message;
    assert!(
        msg.contains(&forged) && msg.contains("bad signature"),
        "{msg}"
    );
}

#[test]
fn an_unusable_key_stops_promote_before_anything_is_pushed_and_stays_secret() {
    let e = env();
    let locked = keygen(e.keys.path(), "locked", "correct horse battery");
    let commit = e.src.head();
    let run = e.promote(
        &commit,
        100,
        &["--init", "--signing-key", locked.private.to_str().unwrap()],
        &[],
    );
    run.assert_code(3);
    e.assert_clean(&run, &locked);
    let text = error_all(&run);
    assert!(text.contains("unencrypted OpenSSH private key"), "{text}");
    assert!(!text.contains("correct horse"), "{text}");
    assert_eq!(remote_head(&e.bare(), GITOPS_BRANCH), None);

    let missing = e.keys.path().join("nope");
    let run = e.promote(
        &commit,
        100,
        &["--init", "--signing-key", missing.to_str().unwrap()],
        &[],
    );
    run.assert_code(3);
    assert_eq!(remote_head(&e.bare(), GITOPS_BRANCH), None);
}
