//! SSH signatures of commits, made and checked exactly as git's `gpg.format=ssh` does: the
//! signed payload is the commit object without its `gpgsig` header, signed in the `git`
//! namespace by `ssh-keygen -Y sign`, and stored armored in the `gpgsig` header. Checking
//! runs `ssh-keygen -Y check-novalidate`, `find-principals` and `verify` against an
//! allowed-signers file (git's `gpg.ssh.allowedSignersFile` format), so that the outcome can
//! say why a commit is not trusted: unsigned, a bad signature, or a key nobody allowed.
//!
//! The private key is only ever a path handed to ssh-keygen: its bytes are never read into a
//! message, and ssh-keygen's stderr is not passed on for key operations (it can quote the
//! file).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use sha2::Digest;

use super::{GitError, Repo};

/// The namespace git signs commits in.
const NAMESPACE: &str = "git";
/// A signing key or allowed-signers file larger than this is not one.
const MAX_FILE: u64 = 1 << 20;

#[derive(Debug, thiserror::Error)]
pub enum SignError {
    #[error("signing key {path}: {why}")]
    Key { path: String, why: String },
    #[error("allowed signers {path}: {why}")]
    AllowedSigners { path: String, why: String },
    #[error("cannot run ssh-keygen: {0}")]
    Spawn(String),
    #[error("ssh-keygen could not sign the commit with {fingerprint} (exit {code})")]
    Sign { fingerprint: String, code: i32 },
    #[error("{0}")]
    Io(String),
}

/// A private key to sign with (an unencrypted OpenSSH key file, as a Tekton workspace
/// mounts it). A copy readable only by this user is used when the file is readable by
/// others (ssh-keygen refuses those, and Secrets are mounted 0644); it is removed on drop.
#[derive(Debug)]
pub struct SigningKey {
    path: PathBuf,
    copy: Option<PathBuf>,
    /// `ssh-ed25519 AAAA…` (no comment).
    pub public_key: String,
    /// `SHA256:…`, as ssh-keygen and git print it.
    pub fingerprint: String,
}

impl Drop for SigningKey {
    fn drop(&mut self) {
        if let Some(c) = &self.copy {
            let _ = std::fs::remove_file(c);
        }
    }
}

fn key_err(path: &Path, why: impl Into<String>) -> SignError {
    SignError::Key {
        path: path.display().to_string(),
        why: why.into(),
    }
}

fn ssh_keygen() -> Command {
    let mut c = Command::new("ssh-keygen");
    // Never ask for a passphrase on a terminal, never use an agent.
    c.env_remove("SSH_AUTH_SOCK")
        .env("SSH_ASKPASS_REQUIRE", "never")
        .env_remove("DISPLAY")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

/// Run `cmd` with `input` on stdin; (exit code, stdout, stderr).
fn run_with_input(mut cmd: Command, input: &[u8]) -> Result<(i32, String, String), SignError> {
    cmd.stdin(Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| SignError::Spawn(e.to_string()))?;
    if let Some(mut stdin) = child.stdin.take() {
        // ssh-keygen may exit before reading everything (a refused key): a broken pipe is
        // its answer, not ours to report.
        let _ = stdin.write_all(input);
    }
    let out = child
        .wait_with_output()
        .map_err(|e| SignError::Spawn(e.to_string()))?;
    Ok((
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    ))
}

/// `SHA256:<unpadded base64 of the key blob's sha256>` of a public key line.
pub fn fingerprint(public_key: &str) -> Option<String> {
    use base64::Engine;
    let blob = public_key.split_whitespace().nth(1)?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(blob)
        .ok()?;
    let sum = sha2::Sha256::digest(&bytes);
    Some(format!(
        "SHA256:{}",
        base64::engine::general_purpose::STANDARD_NO_PAD.encode(sum)
    ))
}

impl SigningKey {
    /// Check that `path` is an unencrypted private key ssh-keygen can use, and read its
    /// public half.
    pub fn load(path: &Path) -> Result<SigningKey, SignError> {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        let path = std::path::absolute(path).map_err(|e| key_err(path, e.to_string()))?;
        let meta = std::fs::metadata(&path).map_err(|e| key_err(&path, e.to_string()))?;
        if !meta.is_file() {
            return Err(key_err(&path, "not a file"));
        }
        if meta.len() > MAX_FILE {
            return Err(key_err(&path, "larger than 1 MiB: not a private key"));
        }
        let mut key = SigningKey {
            path: path.clone(),
            copy: None,
            public_key: String::new(),
            fingerprint: String::new(),
        };
        if meta.permissions().mode() & 0o077 != 0 {
            let bytes = std::fs::read(&path).map_err(|e| key_err(&path, e.to_string()))?;
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0);
            let copy = std::env::temp_dir()
                .join(format!("lane-signing-key-{}-{nanos}", std::process::id()));
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&copy)
                .map_err(|e| SignError::Io(format!("{}: {e}", copy.display())))?;
            key.copy = Some(copy.clone());
            f.write_all(&bytes)
                .map_err(|e| SignError::Io(format!("{}: {e}", copy.display())))?;
            key.path = copy;
        }
        // `-y` prints the public key; an empty `-P` makes an encrypted key fail instead of
        // prompting. Its stderr is not shown: it can name the file's contents' format only,
        // but the message here says everything needed.
        let mut cmd = ssh_keygen();
        cmd.arg("-y").arg("-P").arg("").arg("-f").arg(&key.path);
        let out = cmd.output().map_err(|e| SignError::Spawn(e.to_string()))?;
        let public = String::from_utf8_lossy(&out.stdout);
        let public: Vec<&str> = public.split_whitespace().take(2).collect();
        if !out.status.success() || public.len() != 2 {
            return Err(key_err(
                &path,
                "not an unencrypted OpenSSH private key (ssh-keygen cannot read it without a passphrase)",
            ));
        }
        key.public_key = public.join(" ");
        key.fingerprint = fingerprint(&key.public_key)
            .ok_or_else(|| key_err(&path, "ssh-keygen printed no usable public key"))?;
        Ok(key)
    }

    /// The armored SSH signature of `payload` in git's namespace.
    pub fn sign(&self, payload: &[u8]) -> Result<String, SignError> {
        let mut cmd = ssh_keygen();
        cmd.args(["-Y", "sign", "-n", NAMESPACE, "-f"])
            .arg(&self.path);
        let (code, stdout, _stderr) = run_with_input(cmd, payload)?;
        if code != 0 || !stdout.starts_with("-----BEGIN SSH SIGNATURE-----") {
            return Err(SignError::Sign {
                fingerprint: self.fingerprint.clone(),
                code,
            });
        }
        Ok(stdout)
    }
}

/// What a commit's signature says against an allowed-signers file.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", tag = "state")]
pub enum SignatureState {
    /// The commit has no `gpgsig` header.
    Unsigned,
    /// Signed, but not with an SSH signature (OpenPGP or X.509).
    NotSsh,
    /// The signature does not match the commit (or is malformed).
    Bad { detail: String },
    /// A valid signature by a key the allowed-signers file does not name.
    UnknownKey { fingerprint: String },
    /// The key is named, but not for this use (namespace, validity window): ssh-keygen's
    /// reason.
    NotAllowed {
        fingerprint: String,
        principals: Vec<String>,
        detail: String,
    },
    /// Signed by an allowed key.
    Good {
        fingerprint: String,
        principal: String,
    },
}

/// The raw commit object, split into (signed payload, armored signature).
pub fn split_signature(raw: &[u8]) -> (Vec<u8>, Option<String>) {
    let header_end = raw
        .windows(2)
        .position(|w| w == b"\n\n")
        .map(|i| i + 1)
        .unwrap_or(raw.len());
    let (headers, rest) = raw.split_at(header_end);
    let mut payload = Vec::with_capacity(raw.len());
    let mut sig: Option<String> = None;
    let mut in_sig = false;
    for line in headers.split_inclusive(|b| *b == b'\n') {
        if in_sig {
            if let Some(cont) = line.strip_prefix(b" ") {
                if let Some(s) = sig.as_mut() {
                    s.push_str(&String::from_utf8_lossy(cont));
                }
                continue;
            }
            in_sig = false;
        }
        if let Some(v) = line.strip_prefix(b"gpgsig ") {
            if sig.is_none() {
                sig = Some(String::from_utf8_lossy(v).into_owned());
                in_sig = true;
                continue;
            }
        }
        payload.extend_from_slice(line);
    }
    payload.extend_from_slice(rest);
    (payload, sig)
}

/// A directory of this run's own for the signature file, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Result<TempDir, SignError> {
        use std::os::unix::fs::DirBuilderExt;
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let p =
            std::env::temp_dir().join(format!("lane-verify-sig-{}-{nanos}", std::process::id()));
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&p)
            .map_err(|e| SignError::Io(format!("{}: {e}", p.display())))?;
        Ok(TempDir(p))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// ssh-keygen's first line of output, kept short (it goes into a one-line finding).
fn first_line(s: &str) -> String {
    let l = s
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim();
    l.chars().take(300).collect()
}

/// Check `commit`'s signature against `allowed_signers`.
pub fn verify_commit(
    repo: &Repo,
    commit: &str,
    allowed_signers: &Path,
) -> Result<SignatureState, SignError> {
    let meta = std::fs::metadata(allowed_signers).map_err(|e| SignError::AllowedSigners {
        path: allowed_signers.display().to_string(),
        why: e.to_string(),
    })?;
    if !meta.is_file() || meta.len() > MAX_FILE {
        return Err(SignError::AllowedSigners {
            path: allowed_signers.display().to_string(),
            why: "not a file of at most 1 MiB".into(),
        });
    }
    let allowed = std::path::absolute(allowed_signers)
        .map_err(|e| SignError::Io(format!("{}: {e}", allowed_signers.display())))?;
    let raw = repo
        .raw_commit(commit)
        .map_err(|e| SignError::Io(e.to_string()))?;
    let (payload, sig) = split_signature(&raw);
    let Some(sig) = sig else {
        return Ok(SignatureState::Unsigned);
    };
    if !sig.starts_with("-----BEGIN SSH SIGNATURE-----") {
        return Ok(SignatureState::NotSsh);
    }
    let dir = TempDir::new()?;
    let sig_file = dir.0.join("commit.sig");
    std::fs::write(&sig_file, sig.as_bytes())
        .map_err(|e| SignError::Io(format!("{}: {e}", sig_file.display())))?;

    // 1. Is the signature good at all, and by which key?
    let mut cmd = ssh_keygen();
    cmd.args(["-Y", "check-novalidate", "-n", NAMESPACE, "-s"])
        .arg(&sig_file);
    let (code, stdout, stderr) = run_with_input(cmd, &payload)?;
    if code != 0 {
        return Ok(SignatureState::Bad {
            detail: first_line(&format!("{stderr}\n{stdout}")),
        });
    }
    let fingerprint = stdout
        .split_whitespace()
        .find(|w| w.starts_with("SHA256:"))
        .map(str::to_string)
        .unwrap_or_default();

    // 2. Which principals does the allowed-signers file give that key?
    let mut cmd = ssh_keygen();
    cmd.args(["-Y", "find-principals", "-f"])
        .arg(&allowed)
        .arg("-s")
        .arg(&sig_file);
    let out = cmd.output().map_err(|e| SignError::Spawn(e.to_string()))?;
    let principals: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .take(32)
        .collect();
    if !out.status.success() || principals.is_empty() {
        return Ok(SignatureState::UnknownKey { fingerprint });
    }

    // 3. Verify as one of them (namespace and validity options of the file apply).
    let mut last = String::new();
    for p in &principals {
        let mut cmd = ssh_keygen();
        cmd.args(["-Y", "verify", "-n", NAMESPACE, "-f"])
            .arg(&allowed)
            .arg("-I")
            .arg(p)
            .arg("-s")
            .arg(&sig_file);
        let (code, stdout, stderr) = run_with_input(cmd, &payload)?;
        if code == 0 {
            return Ok(SignatureState::Good {
                fingerprint,
                principal: p.clone(),
            });
        }
        last = first_line(&format!("{stderr}\n{stdout}"));
    }
    Ok(SignatureState::NotAllowed {
        fingerprint,
        principals,
        detail: last,
    })
}

impl Repo {
    /// The raw bytes of a commit object (headers and message), as git hashes them.
    pub fn raw_commit(&self, commit: &str) -> Result<Vec<u8>, GitError> {
        let id = gix::ObjectId::from_hex(commit.as_bytes())
            .map_err(|e| GitError::Object(e.to_string()))?;
        let obj = self
            .gix()
            .find_object(id)
            .map_err(|e| GitError::Object(e.to_string()))?;
        if obj.kind != gix::object::Kind::Commit {
            return Err(GitError::NotACommit {
                spec: commit.to_string(),
                kind: obj.kind.to_string(),
            });
        }
        Ok(obj.data.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_header_is_cut_out_of_the_payload() {
        let raw = b"tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\nauthor a <a> 1 +0000\ncommitter a <a> 1 +0000\ngpgsig -----BEGIN SSH SIGNATURE-----\n U1NIU0lH\n -----END SSH SIGNATURE-----\n\nmessage\n\nLane: v0.1\n";
        let (payload, sig) = split_signature(raw);
        assert_eq!(
            sig.as_deref(),
            Some("-----BEGIN SSH SIGNATURE-----\nU1NIU0lH\n-----END SSH SIGNATURE-----\n")
        );
        assert_eq!(
            String::from_utf8(payload).unwrap(),
            "tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\nauthor a <a> 1 +0000\ncommitter a <a> 1 +0000\n\nmessage\n\nLane: v0.1\n"
        );
        let (p, s) = split_signature(b"tree x\n\nmsg gpgsig y\n");
        assert_eq!(s, None);
        assert_eq!(p, b"tree x\n\nmsg gpgsig y\n");
    }

    #[test]
    fn fingerprints_are_ssh_keygens() {
        // ssh-keygen -lf of this public key prints this fingerprint.
        let k = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOIX3bQi6wqEy2iP5CjiXx/f3BqgBl6XIp0mw+qzDwYj";
        assert_eq!(
            fingerprint(k).unwrap(),
            "SHA256:9U8ogk/pJhFGLFLQbEDKVFEDUrNufxLWf5JsawGR2s0"
        );
    }
}
