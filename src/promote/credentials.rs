//! Git credentials from Tekton workspaces, handed to the git CLI through its environment so
//! that no credential ever appears on a command line, in output or in an error.
//!
//! - `ssh-directory`: a private key (`id_ed25519`, `id_ecdsa`, `id_rsa` or `ssh-privatekey`),
//!   `known_hosts` and optionally `config`; used through `GIT_SSH_COMMAND` with `-i`,
//!   `UserKnownHostsFile` (strict host keys) and `-F`.
//! - `basic-auth`: a `.git-credentials` file (`https://user:token@host`); used through a
//!   credential helper that only reads it (`git credential-store … get`), given by
//!   `GIT_CONFIG_COUNT`/`GIT_CONFIG_KEY_n`; the workspace file is never rewritten.

use std::path::{Path, PathBuf};

use super::PromoteError;

#[derive(Debug, Clone, Default, clap::Args)]
pub struct CredentialArgs {
    /// Tekton `ssh-directory` workspace: a private key (id_ed25519, id_ecdsa, id_rsa or
    /// ssh-privatekey), `known_hosts`, and optionally an ssh `config`. Used for ssh remotes;
    /// host keys are checked strictly.
    #[arg(long, value_name = "DIR")]
    pub ssh_directory: Option<PathBuf>,
    /// Tekton `basic-auth` workspace holding `.git-credentials` (`https://user:token@host`)
    /// for https remotes.
    #[arg(long, value_name = "DIR")]
    pub basic_auth: Option<PathBuf>,
    /// Sign the GitOps commits with this SSH private key (an unencrypted OpenSSH key file,
    /// e.g. from a Tekton workspace or Secret), as git's `gpg.format=ssh` does; `lane verify
    /// --allowed-signers` checks them. The key never appears in any output.
    #[arg(long, value_name = "FILE", env = "LANE_SIGNING_KEY")]
    pub signing_key: Option<PathBuf>,
}

/// The signing key of `--signing-key`, checked before anything is fetched or built.
pub fn signing_key(
    args: &CredentialArgs,
) -> Result<Option<crate::git::sign::SigningKey>, PromoteError> {
    match &args.signing_key {
        None => Ok(None),
        Some(p) => {
            let key = crate::git::sign::SigningKey::load(p)?;
            crate::output::progress(format!(
                "signing GitOps commits with {} ({})",
                key.fingerprint,
                key.public_key
                    .split_whitespace()
                    .next()
                    .unwrap_or("ssh key")
            ));
            Ok(Some(key))
        }
    }
}

/// Credentials in effect for this process; a private copy of an ssh key is removed on drop.
#[derive(Debug, Default)]
pub struct Applied {
    key_copy: Option<PathBuf>,
}

impl Drop for Applied {
    fn drop(&mut self) {
        if let Some(k) = &self.key_copy {
            let _ = std::fs::remove_file(k);
        }
    }
}

fn quote(p: &Path) -> String {
    format!("'{}'", p.display().to_string().replace('\'', "'\\''"))
}

fn missing(what: &str, path: &Path) -> PromoteError {
    PromoteError::Credentials(format!("{what} not found at {}", path.display()))
}

/// Point the git CLI at the workspaces' credentials. Call before any thread starts.
pub fn apply(args: &CredentialArgs) -> Result<Applied, PromoteError> {
    let mut applied = Applied::default();
    if let Some(dir) = &args.ssh_directory {
        // git runs in another directory (`git -C`): relative paths would point elsewhere.
        let dir = &absolute(dir)?;
        // `ssh-privatekey` is the key's name in a kubernetes.io/ssh-auth Secret.
        let key = ["id_ed25519", "id_ecdsa", "id_rsa", "ssh-privatekey"]
            .iter()
            .map(|k| dir.join(k))
            .find(|p| p.is_file())
            .ok_or_else(|| {
                missing(
                    "a private key (id_ed25519, id_ecdsa, id_rsa or ssh-privatekey)",
                    dir,
                )
            })?;
        let known = dir.join("known_hosts");
        if !known.is_file() {
            return Err(missing("known_hosts", dir));
        }
        let key = private_key_path(&key, &mut applied)?;
        // The workspace's `config` (host aliases, ports, proxies) when it has one.
        let config = dir.join("config");
        let config = if config.is_file() {
            format!("-F {} ", quote(&config))
        } else {
            String::new()
        };
        let cmd = format!(
            "ssh {config}-i {} -o IdentitiesOnly=yes -o UserKnownHostsFile={} -o StrictHostKeyChecking=yes -o BatchMode=yes",
            quote(&key),
            quote(&known)
        );
        std::env::set_var("GIT_SSH_COMMAND", cmd);
    }
    if let Some(dir) = &args.basic_auth {
        let dir = &absolute(dir)?;
        let store = dir.join(".git-credentials");
        if !store.is_file() {
            return Err(missing(".git-credentials", dir));
        }
        std::env::set_var("GIT_CONFIG_COUNT", "1");
        std::env::set_var("GIT_CONFIG_KEY_0", "credential.helper");
        std::env::set_var("GIT_CONFIG_VALUE_0", read_only_helper(&store));
    }
    Ok(applied)
}

fn absolute(dir: &Path) -> Result<PathBuf, PromoteError> {
    std::path::absolute(dir)
        .map_err(|e| PromoteError::Credentials(format!("{}: {e}", dir.display())))
}

/// A credential helper that only answers `get` from the workspace's `.git-credentials`.
/// `git credential-store` itself would also run `store` after a success and `erase` after a
/// refusal, rewriting (or emptying) the user's workspace file; those actions are ignored.
fn read_only_helper(store: &Path) -> String {
    format!(
        "!f() {{ if [ \"$1\" = get ]; then git credential-store --file={} get; fi; }}; f",
        quote(store)
    )
}

/// ssh refuses a key readable by others (Tekton mounts Secrets 0644): use a private copy then.
fn private_key_path(key: &Path, applied: &mut Applied) -> Result<PathBuf, PromoteError> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let mode = std::fs::metadata(key)
        .map_err(|e| PromoteError::Credentials(format!("{}: {e}", key.display())))?
        .permissions()
        .mode();
    if mode & 0o077 == 0 {
        return Ok(key.to_path_buf());
    }
    let bytes = std::fs::read(key)
        .map_err(|e| PromoteError::Credentials(format!("{}: {e}", key.display())))?;
    let copy = std::env::temp_dir().join(format!("lane-ssh-key-{}", std::process::id()));
    let _ = std::fs::remove_file(&copy);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&copy)
        .map_err(|e| PromoteError::Credentials(format!("{}: {e}", copy.display())))?;
    std::io::Write::write_all(&mut f, &bytes)
        .map_err(|e| PromoteError::Credentials(format!("{}: {e}", copy.display())))?;
    applied.key_copy = Some(copy.clone());
    Ok(copy)
}
