//! The promote scratch repository: a throwaway bare repository per attempt, in which the
//! GitOps tip is fetched and the new objects are written, so the source repository is only
//! read. Used by promote and rollback, which name the branch.

use std::path::PathBuf;

use super::cli;
use super::gitops::GitopsHead;
use super::remote::Remote;
use super::{GitError, Repo};
use crate::error::{Classified, ExitClass};
use crate::output::progress;

/// Why a scratch repository could not be set up or filled.
#[derive(Debug, thiserror::Error)]
pub enum ScratchError {
    #[error("cannot write {path}: {message}")]
    Write { path: String, message: String },
    #[error(transparent)]
    Git(#[from] GitError),
}

impl Classified for ScratchError {
    fn class(&self) -> ExitClass {
        match self {
            ScratchError::Write { .. } => ExitClass::Environment,
            ScratchError::Git(e) => e.class(),
        }
    }
    fn hint(&self) -> Option<String> {
        match self {
            ScratchError::Write { .. } => None,
            ScratchError::Git(e) => e.hint(),
        }
    }
}

/// The scratch repository's config. It is thrown away after the push, so nothing in it needs
/// to survive a crash: no fsync (`core.fsync=none`), and no automatic maintenance or gc after
/// the fetch (they would only spend time on objects about to be deleted).
const SCRATCH_CONFIG: &str = "[core]\n\trepositoryformatversion = 0\n\tfilemode = true\n\tbare = true\n\tfsync = none\n[maintenance]\n\tauto = false\n[gc]\n\tauto = 0\n[fetch]\n\twriteCommitGraph = false\n";

/// A throwaway bare repository for one attempt: the GitOps tip is fetched into it with
/// `--depth=1` (cost flat in the GitOps history) and the new objects are written there; it
/// borrows the source repository's objects through `objects/info/alternates`. The source
/// repository itself is only read, so concurrent runs sharing `--repo` never contend for its
/// locks and a SIGKILLed run leaves no stale lock (`shallow.lock`, ref locks) behind in it.
pub struct Scratch {
    pub dir: PathBuf,
    pub repo: Repo,
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
        // The lane-owned directory too, when no other run is using it (fails if not empty).
        if let Some(root) = self.dir.parent() {
            let _ = std::fs::remove_dir(root);
        }
    }
}

/// Where scratch repositories live: one lane-owned directory, `<pid>-<nanos>.git` inside, so
/// that those of a SIGKILLed run can be told apart and swept by the next run.
fn scratch_root() -> PathBuf {
    std::env::temp_dir().join("lane-promote")
}

/// Remove scratch repositories whose run is gone (its pid no longer exists).
fn sweep_stale_scratch(root: &std::path::Path) {
    let Ok(entries) = std::fs::read_dir(root) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.split('-').next())
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if pid != std::process::id() && !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

impl Scratch {
    pub fn new(source: &Repo) -> Result<Scratch, ScratchError> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let root = scratch_root();
        static SWEPT: std::sync::Once = std::sync::Once::new();
        SWEPT.call_once(|| sweep_stale_scratch(&root));
        let dir = root.join(format!("{}-{nanos}.git", std::process::id()));
        let io = |e: std::io::Error| ScratchError::Write {
            path: dir.display().to_string(),
            message: e.to_string(),
        };
        // The layout of `git init --bare --template=` written directly: a git process less
        // per attempt, and nothing (hooks, samples) that a throwaway repository never uses.
        for sub in ["objects/info", "objects/pack", "refs/heads", "refs/tags"] {
            let path = dir.join(sub);
            // Another run may remove the (then empty) lane-owned directory in between: once
            // more is enough, as it removes it only when empty.
            std::fs::create_dir_all(&path)
                .or_else(|_| std::fs::create_dir_all(&path))
                .map_err(io)?;
        }
        std::fs::write(dir.join("HEAD"), "ref: refs/heads/main\n").map_err(io)?;
        std::fs::write(dir.join("config"), SCRATCH_CONFIG).map_err(io)?;
        let objects =
            std::fs::canonicalize(source.gix().common_dir().join("objects")).map_err(io)?;
        std::fs::write(
            dir.join("objects/info/alternates"),
            format!("{}\n", objects.display()),
        )
        .map_err(io)?;
        let repo = Repo::open(&dir)?;
        Ok(Scratch { dir, repo })
    }

    /// Take `tip` (present through the alternates) as the tip of `branch`, without fetching.
    pub fn adopt(
        &self,
        source: &Repo,
        branch: &str,
        tip: &str,
    ) -> Result<GitopsHead, ScratchError> {
        // A shallow workspace: the push must know where its history stops, or pack-objects
        // looks for parents that are not there.
        let shallow = source.gix().common_dir().join("shallow");
        if shallow.is_file() {
            std::fs::copy(&shallow, self.dir.join("shallow")).map_err(|e| ScratchError::Write {
                path: self.dir.join("shallow").display().to_string(),
                message: e.to_string(),
            })?;
        }
        let local = format!("refs/heads/{branch}");
        self.repo
            .update_ref_cas(&local, tip, None, "lane promote: the workspace's tip")?;
        Ok(GitopsHead {
            git_ref: local,
            commit: crate::git::commit_id(tip)?,
        })
    }

    /// Fetch the remote GitOps branch's tip into `refs/heads/<branch>` (`None`: no branch).
    pub fn fetch_tip(
        &self,
        branch: &str,
        remote: &Remote,
    ) -> Result<Option<GitopsHead>, ScratchError> {
        self.fetch(branch, remote, true)
    }

    /// Fetch the remote GitOps branch into `refs/heads/<branch>`: its tip only (`shallow`), or
    /// its whole history (a rollback looks for an earlier release in it).
    pub fn fetch(
        &self,
        branch: &str,
        remote: &Remote,
        shallow: bool,
    ) -> Result<Option<GitopsHead>, ScratchError> {
        progress(format!(
            "fetching {branch} from the GitOps remote{}",
            if shallow { "" } else { " (with its history)" }
        ));
        let local = format!("refs/heads/{branch}");
        let spec = format!("+{local}:{local}");
        let mut args = vec!["fetch", "--quiet", "--no-tags", "--no-write-fetch-head"];
        if shallow {
            args.push("--depth=1");
        }
        args.extend(["--", remote.as_str(), &spec]);
        let fetched = cli::run(&self.dir, &args);
        match fetched {
            Ok(_) => {}
            Err(GitError::Command { stderr, .. })
                if stderr.contains("couldn't find remote ref") =>
            {
                return Ok(None)
            }
            Err(e) => return Err(e.into()),
        }
        self.repo
            .ref_target(&local)?
            .map(|commit| {
                Ok(GitopsHead {
                    git_ref: local,
                    commit: crate::git::commit_id(&commit)?,
                })
            })
            .transpose()
    }
}
