//! Finding a GitOps branch's tip without a checkout: fetched from a remote, or held under a
//! local ref. Shared by plan, render, promote, verify and status, which name the branch; what
//! the tip holds (the catalog) is read by src/model/catalog_at.rs. Only the given branch is ever
//! read: there is no fallback to another branch (docs/architecture.md, "Truth sources").

use super::{cli, GitError, Repo};
use crate::commit::Commit;

/// Where the GitOps branch is read from (flattened into subcommands).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct GitopsArgs {
    /// Fetch the lane's GitOps branch from this remote first (git CLI, no checkout) into
    /// `refs/lane/gitops/<branch>`.
    // The URL may carry credentials: `--help` never shows its environment value.
    #[arg(
        long,
        value_name = "URL",
        env = "LANE_GITOPS_REMOTE",
        hide_env_values = true
    )]
    pub gitops_remote: Option<String>,
    /// Local ref holding the GitOps branch. Default: `refs/remotes/origin/<gitops branch>`,
    /// then `refs/heads/<gitops branch>`.
    #[arg(long, value_name = "REF", conflicts_with = "gitops_remote")]
    pub gitops_ref: Option<String>,
}

impl GitopsArgs {
    /// Refuse an option-shaped or disallowed `--gitops-remote` / `--gitops-ref` up front, so a
    /// bad flag fails (exit 1) even on a path that would not have used it.
    pub fn check(&self) -> Result<(), GitError> {
        if let Some(r) = &self.gitops_remote {
            super::remote::Remote::parse_named("--gitops-remote", r)?;
        }
        if let Some(r) = &self.gitops_ref {
            cli::positional(r)?;
        }
        Ok(())
    }
}

/// The GitOps branch tip that was read.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GitopsHead {
    /// The local ref it was read from.
    pub git_ref: String,
    pub commit: Commit,
}

/// The local ref a remote GitOps branch is fetched into.
pub fn fetched_ref(branch: &str) -> String {
    format!("refs/lane/gitops/{branch}")
}

/// Where prepare-source (or a plain `git fetch origin`) leaves the GitOps branch.
fn tracking_ref(branch: &str) -> String {
    format!("refs/remotes/origin/{branch}")
}

/// The GitOps tip the repository already holds, without fetching: `refs/lane/gitops/<branch>`
/// (from `lane plan --gitops-remote`), else `refs/remotes/origin/<branch>` (prepare-source).
pub fn held_tip(repo: &Repo, branch: &str) -> Option<Commit> {
    [fetched_ref(branch), tracking_ref(branch)]
        .iter()
        .find_map(|r| repo.ref_target(r).ok().flatten())
        .and_then(|id| repo.resolve_commit(&id).ok())
}

/// Find (fetching first when a remote is given) the tip of the GitOps branch `branch`; `None`
/// when the branch does not exist yet.
pub fn head(repo: &Repo, branch: &str, args: &GitopsArgs) -> Result<Option<GitopsHead>, GitError> {
    if let Some(remote) = &args.gitops_remote {
        let remote = super::remote::Remote::parse_named("--gitops-remote", remote)?;
        let into = fetched_ref(branch);
        crate::output::progress(format!("fetching {branch} from the GitOps remote"));
        return cli::fetch_branch(repo.path(), &remote, branch, &into)?
            .map(|commit| {
                Ok(GitopsHead {
                    git_ref: into,
                    commit: super::commit_id(&commit)?,
                })
            })
            .transpose();
    }
    let candidates = match &args.gitops_ref {
        Some(r) => vec![cli::positional(r)?.to_string()],
        None => vec![tracking_ref(branch), format!("refs/heads/{branch}")],
    };
    for r in candidates {
        if let Some(id) = repo.ref_target(&r)? {
            let commit = repo.resolve_commit(&id)?;
            return Ok(Some(GitopsHead { git_ref: r, commit }));
        }
    }
    Ok(None)
}
