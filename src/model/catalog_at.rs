//! The artifact catalog at the GitOps tip: the one loader of the catalog from the lane's GitOps
//! branch (plan, render, promote, rollback, verify, status) or from a file. The git layer finds
//! the tip and reads the blob, knowing no lane document; this module knows where the catalog
//! lives and checks it with [`super::check`], requiring it to belong to this lane.

use super::{check, Catalog, InputError, LaneNames};
use crate::error::{Classified, ExitClass};
use crate::git::gitops::GitopsHead;
use crate::git::{EntryKind, GitError, Repo};

/// Why the catalog at the GitOps tip could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum CatalogAtError {
    #[error(transparent)]
    Git(#[from] GitError),
    #[error(transparent)]
    Catalog(#[from] InputError),
}

impl Classified for CatalogAtError {
    fn class(&self) -> ExitClass {
        match self {
            CatalogAtError::Git(e) => e.class(),
            CatalogAtError::Catalog(e) => e.class(),
        }
    }
    fn hint(&self) -> Option<String> {
        match self {
            CatalogAtError::Git(e) => e.hint(),
            CatalogAtError::Catalog(e) => e.hint(),
        }
    }
    fn details(&self) -> Option<serde_json::Value> {
        match self {
            CatalogAtError::Git(e) => e.details(),
            CatalogAtError::Catalog(e) => e.details(),
        }
    }
}

/// The catalog at `head`, checked and required to belong to this lane; `None` when the
/// branch has no catalog file.
pub fn catalog_at(
    repo: &Repo,
    names: &LaneNames,
    head: &GitopsHead,
) -> Result<Option<Catalog>, CatalogAtError> {
    let file = format!("{}:{}", names.gitops_branch, names.catalog_path);
    let id = match repo.entry(&head.commit, &names.catalog_path)? {
        None => return Ok(None),
        Some((id, EntryKind::Blob | EntryKind::Executable)) => id,
        // Something else sits where the catalog belongs: never "no catalog" (which invites
        // `--init` over it).
        Some((_, kind)) => {
            let what = match kind {
                EntryKind::Tree => "a directory",
                EntryKind::Link => "a symlink",
                _ => "a submodule",
            };
            return Err(InputError::Invalid {
                file,
                findings: vec![check::Finding {
                    path: "$".into(),
                    rule: "catalog-not-a-file".into(),
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
