//! The git CLI for network operations (fetch, push). Output is scrubbed of credentials
//! before it reaches an error message.

use std::path::Path;
use std::process::Command;

use super::remote::{Remote, GIT_ALLOW_PROTOCOL};
use super::GitError;
use crate::redact;

/// `git -C dir` with prompts disabled (a missing credential fails instead of hanging a
/// Tekton step), no inherited repository location, and git's own protocol allow-list: even a
/// remote that slipped past [`Remote::parse`] cannot use `ext::`/`fd::` (they run programs).
fn git(dir: &Path) -> Command {
    let mut c = Command::new("git");
    c.arg("-C")
        .arg(dir)
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_ASKPASS", "true")
        .env("GIT_ALLOW_PROTOCOL", GIT_ALLOW_PROTOCOL)
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE");
    c
}

/// A value for a positional git argument: never one that git could read as an option. Every
/// caller also puts `--` (or `--end-of-options`) before its positionals; this refuses the
/// value before a process starts.
pub fn positional(value: &str) -> Result<&str, GitError> {
    if value.starts_with('-') {
        Err(GitError::OptionShaped {
            value: redact::scrub(value, &[]),
        })
    } else {
        Ok(value)
    }
}

/// Run `git <args>` in `dir`; return stdout. Prompts are disabled so a missing credential
/// fails instead of hanging a Tekton step.
pub fn run(dir: &Path, args: &[&str]) -> Result<String, GitError> {
    let out = git(dir)
        .args(args)
        .output()
        .map_err(|e| GitError::Spawn(e.to_string()))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(GitError::Command {
            command: scrub_args(args),
            stderr: redact::scrub(String::from_utf8_lossy(&out.stderr).trim(), &[]),
        })
    }
}

fn scrub_args(args: &[&str]) -> String {
    redact::scrub(&args.join(" "), &[])
}

/// Fetch `refs/heads/<branch>` from `remote` into the local ref `into`; returns the fetched
/// commit, or `None` when the remote has no such branch.
pub fn fetch_branch(
    dir: &Path,
    remote: &Remote,
    branch: &str,
    into: &str,
) -> Result<Option<String>, GitError> {
    let head = format!("refs/heads/{}", positional(branch)?);
    let listed = run(dir, &["ls-remote", "--heads", "--", remote.as_str(), &head])?;
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
            "--",
            remote.as_str(),
            &format!("+{head}:{}", positional(into)?),
        ],
    )?;
    let id = run(
        dir,
        &[
            "rev-parse",
            "--verify",
            "--end-of-options",
            &format!("{into}^{{commit}}"),
        ],
    )?;
    Ok(Some(id.trim().to_string()))
}

/// What a remote says of one ref: its tip, and the ref it points at when it is symbolic.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RemoteRef {
    pub tip: Option<String>,
    pub symref_target: Option<String>,
}

/// `git ls-remote --symref -- <remote> <refname>`: the ref's tip and, when the remote serves
/// it as a symbolic ref, its target.
pub fn remote_ref(dir: &Path, remote: &Remote, refname: &str) -> Result<RemoteRef, GitError> {
    let out = run(
        dir,
        &[
            "ls-remote",
            "--symref",
            "--",
            remote.as_str(),
            positional(refname)?,
        ],
    )?;
    let mut r = RemoteRef::default();
    for line in out.lines() {
        let Some((left, name)) = line.split_once('\t') else {
            continue;
        };
        if name != refname {
            continue;
        }
        match left.strip_prefix("ref: ") {
            Some(target) => r.symref_target = Some(target.to_string()),
            None => r.tip = Some(left.to_string()),
        }
    }
    Ok(r)
}

/// How a lease-guarded push ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushOutcome {
    /// The remote ref now points at the pushed commit.
    Pushed,
    /// The remote refused because another writer moved the ref first (`stale info`,
    /// `fetch first`, `non-fast-forward`, `failed to update ref`, `cannot lock ref`): fetch,
    /// redo and push again. The reason is scrubbed.
    Raced(String),
}

/// Remote answers that mean "someone else moved the ref first": retry on the new tip.
const RACE_MARKERS: &[&str] = &[
    "stale info",
    "fetch first",
    "non-fast-forward",
    "failed to update ref",
    "cannot lock ref",
    "failed to lock",
    "incorrect old value",
];

/// True when a message says another writer held the ref's lock at that moment (a race even
/// though the tip has not moved yet), as opposed to a lock the server cannot take at all
/// ("Permission denied").
pub fn is_lock_contention(message: &str) -> bool {
    message.contains("File exists") || message.contains("Another git process")
}

/// True when a git failure message says another writer held or moved the ref.
pub fn is_race(message: &str) -> bool {
    RACE_MARKERS.iter().any(|m| message.contains(m))
}

/// `git push --porcelain --force-with-lease=<dst>:<expected> <remote> <commit>:<dst>`:
/// moves `dst` on `remote` to `commit` only if it still points at `expected` (`None`: only if
/// it does not exist). Local pre-push hooks of the repository are not run. (No `--quiet`: it
/// would also silence the porcelain status lines.)
pub fn push_lease(
    dir: &Path,
    remote: &Remote,
    commit: &str,
    dst: &str,
    expected: Option<&str>,
) -> Result<PushOutcome, GitError> {
    let lease = format!("--force-with-lease={dst}:{}", expected.unwrap_or(""));
    let refspec = format!("{}:{dst}", positional(commit)?);
    let args = [
        "push",
        "--porcelain",
        "--no-verify",
        lease.as_str(),
        "--",
        remote.as_str(),
        refspec.as_str(),
    ];
    let out = git(dir)
        .args(args)
        .output()
        .map_err(|e| GitError::Spawn(e.to_string()))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // Porcelain: one line per ref, `<flag>\t<from>:<to>\t<summary>`; `!` = rejected.
    let line = stdout.lines().find(|l| {
        l.split('\t')
            .nth(1)
            .is_some_and(|r| r.ends_with(&format!(":{dst}")))
    });
    if out.status.success() && line.is_some_and(|l| !l.starts_with('!')) {
        return Ok(PushOutcome::Pushed);
    }
    let summary = line
        .and_then(|l| l.split('\t').nth(2))
        .unwrap_or_default()
        .to_string();
    let all = format!("{summary}\n{stderr}");
    if is_race(&all) {
        let mut reason = if summary.is_empty() {
            stderr.trim().lines().last().unwrap_or_default().to_string()
        } else {
            summary
        };
        // The server's own words (hooks print through `remote:`), so that a refusal can be
        // reported as the server put it.
        let server: Vec<&str> = stderr
            .lines()
            .filter_map(|l| l.strip_prefix("remote: "))
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .take(8)
            .collect();
        if !server.is_empty() {
            reason = format!("{reason} — remote: {}", server.join(" / "));
        }
        return Ok(PushOutcome::Raced(redact::scrub(&reason, &[])));
    }
    Err(GitError::Command {
        command: scrub_args(&args),
        stderr: redact::scrub(all.trim(), &[]),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The second layer: even a remote that reached git unparsed cannot use a transport
    /// helper, because lane's git environment carries git's own protocol allow-list.
    #[test]
    fn git_refuses_transport_helpers_in_lanes_environment() {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("marker");
        run(dir.path(), &["init", "-q", "--", "."]).unwrap();
        let ext = format!("ext::sh -c touch% {}", marker.display());
        let err = run(dir.path(), &["ls-remote", "--", &ext]).unwrap_err();
        assert!(
            err.to_string().contains("transport 'ext' not allowed"),
            "{err}"
        );
        assert!(!marker.exists(), "git ran the ext:: command");
    }

    #[test]
    fn positional_values_never_start_with_a_dash() {
        assert!(positional("refs/heads/v0.1").is_ok());
        let err = positional("--upload-pack=x").unwrap_err();
        assert!(matches!(err, GitError::OptionShaped { .. }));
    }
}
