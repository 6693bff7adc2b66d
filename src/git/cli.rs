//! The git CLI for network operations (fetch, push). Output is scrubbed of credentials
//! before it reaches an error message.

use std::path::Path;
use std::process::Command;

use super::GitError;
use crate::model::secrets;

/// Run `git <args>` in `dir`; return stdout. Prompts are disabled so a missing credential
/// fails instead of hanging a Tekton step.
pub fn run(dir: &Path, args: &[&str]) -> Result<String, GitError> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_ASKPASS", "true")
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .output()
        .map_err(|e| GitError::Spawn(e.to_string()))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(GitError::Command {
            command: scrub_args(args),
            stderr: secrets::scrub(String::from_utf8_lossy(&out.stderr).trim(), &[]),
        })
    }
}

fn scrub_args(args: &[&str]) -> String {
    secrets::scrub(&args.join(" "), &[])
}

/// Fetch `refs/heads/<branch>` from `remote` into the local ref `into`; returns the fetched
/// commit, or `None` when the remote has no such branch.
pub fn fetch_branch(
    dir: &Path,
    remote: &str,
    branch: &str,
    into: &str,
) -> Result<Option<String>, GitError> {
    let listed = run(
        dir,
        &[
            "ls-remote",
            "--heads",
            remote,
            &format!("refs/heads/{branch}"),
        ],
    )?;
    if listed.trim().is_empty() {
        return Ok(None);
    }
    run(
        dir,
        &[
            "fetch",
            "--quiet",
            "--no-tags",
            "--no-write-fetch-head",
            remote,
            &format!("+refs/heads/{branch}:{into}"),
        ],
    )?;
    let id = run(
        dir,
        &["rev-parse", "--verify", &format!("{into}^{{commit}}")],
    )?;
    Ok(Some(id.trim().to_string()))
}
