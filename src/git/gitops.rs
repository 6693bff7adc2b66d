//! Reading the lane's GitOps branch: its tip and the artifact catalog on it, without a checkout.
//! Shared by plan, render, promote and verify. Only the lane's own GitOps branch is ever read:
//! there is no fallback to another branch, lane or the source branch (docs/architecture.md, "Truth
//! sources").

use super::{cli, GitError, Repo};
use crate::error::{Classified, ExitClass};
use crate::model::{check, Catalog, InputError, LaneNames};

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

#[derive(Debug, thiserror::Error)]
pub enum GitopsError {
    #[error(transparent)]
    Git(#[from] GitError),
    #[error(transparent)]
    Catalog(#[from] InputError),
}

impl Classified for GitopsError {
    fn class(&self) -> ExitClass {
        match self {
            GitopsError::Git(e) => e.class(),
            GitopsError::Catalog(e) => e.class(),
        }
    }
    fn hint(&self) -> Option<String> {
        match self {
            GitopsError::Git(e) => e.hint(),
            GitopsError::Catalog(e) => e.hint(),
        }
    }
    fn details(&self) -> Option<serde_json::Value> {
        match self {
            GitopsError::Git(e) => e.details(),
            GitopsError::Catalog(e) => e.details(),
        }
    }
}

/// The GitOps branch tip that was read.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GitopsHead {
    /// The local ref it was read from.
    pub git_ref: String,
    /// 40-hex commit.
    pub commit: String,
}

/// The local ref a remote GitOps branch is fetched into.
pub fn fetched_ref(names: &LaneNames) -> String {
    format!("refs/lane/gitops/{}", names.gitops_branch)
}

/// Where prepare-source (or a plain `git fetch origin`) leaves the GitOps branch.
fn tracking_ref(names: &LaneNames) -> String {
    format!("refs/remotes/origin/{}", names.gitops_branch)
}

/// The GitOps tip the repository already holds, without fetching: `refs/lane/gitops/<branch>`
/// (from `lane plan --gitops-remote`), else `refs/remotes/origin/<branch>` (prepare-source).
pub fn held_tip(repo: &Repo, names: &LaneNames) -> Option<String> {
    [fetched_ref(names), tracking_ref(names)]
        .iter()
        .find_map(|r| repo.ref_target(r).ok().flatten())
        .and_then(|id| repo.resolve_commit(&id).ok())
}

/// Find (fetching first when a remote is given) the GitOps branch tip; `None` when the
/// branch does not exist yet.
pub fn head(
    repo: &Repo,
    names: &LaneNames,
    args: &GitopsArgs,
) -> Result<Option<GitopsHead>, GitError> {
    if let Some(remote) = &args.gitops_remote {
        let remote = super::remote::Remote::parse_named("--gitops-remote", remote)?;
        let into = fetched_ref(names);
        crate::output::progress(format!(
            "fetching {} from the GitOps remote",
            names.gitops_branch
        ));
        return Ok(
            cli::fetch_branch(repo.path(), &remote, &names.gitops_branch, &into)?.map(|commit| {
                GitopsHead {
                    git_ref: into,
                    commit,
                }
            }),
        );
    }
    let candidates = match &args.gitops_ref {
        Some(r) => vec![cli::positional(r)?.to_string()],
        None => vec![tracking_ref(names), names.gitops_ref()],
    };
    for r in candidates {
        if let Some(id) = repo.ref_target(&r)? {
            let commit = repo.resolve_commit(&id)?;
            return Ok(Some(GitopsHead { git_ref: r, commit }));
        }
    }
    Ok(None)
}

/// The catalog at `head`, checked and required to belong to this lane; `None` when the
/// branch has no catalog file.
pub fn catalog_at(
    repo: &Repo,
    names: &LaneNames,
    head: &GitopsHead,
) -> Result<Option<Catalog>, GitopsError> {
    let file = format!("{}:{}", names.gitops_branch, names.catalog_path);
    let id = match repo.entry(&head.commit, &names.catalog_path)? {
        None => return Ok(None),
        Some((id, super::EntryKind::Blob | super::EntryKind::Executable)) => id,
        // Something else sits where the catalog belongs: never "no catalog" (which invites
        // `--init` over it).
        Some((_, kind)) => {
            let what = match kind {
                super::EntryKind::Tree => "a directory",
                super::EntryKind::Link => "a symlink",
                _ => "a submodule",
            };
            return Err(InputError::Invalid {
                file,
                findings: vec![check::Finding {
                    path: "$".into(),
                    rule: "catalog-not-a-file",
                    message: format!(
                        "the catalog path holds {what}, not a file; remove it from the GitOps branch by hand (lane never overwrites it)"
                    ),
                }],
            }
            .into());
        }
    };
    let bytes = repo.read_blob(&id)?;
    Ok(Some(check::parse_catalog(&bytes, &file, Some(names))?))
}

/// Load a catalog file from disk, checked against the lane.
pub fn catalog_file(path: &std::path::Path, names: &LaneNames) -> Result<Catalog, InputError> {
    let bytes = check::read_limited(path)?;
    check::parse_catalog(&bytes, &path.display().to_string(), Some(names))
}
