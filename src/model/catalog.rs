//! The artifact catalog (docs/architecture.md, "Artifact identity"): machine-written, lives only on
//! the GitOps branch at `names.catalog_path`. One entry per service records the image that the lane
//! runs.
//!
//! Three forms of one document: [`CatalogText`] is what the loader parses (digests as text, so
//! the catalog check can name every bad field, not only the first); [`CatalogDoc`] is a catalog
//! with typed digests, as promote and rollback build it; [`Catalog`] is a checked one, which
//! only the loader (`model::check::catalog`) hands out, so its readers (plan, render, promote,
//! verify, status) never check it again.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::commit::{Commit, NotACommit};
use super::digest::{Digest, NotADigest};
use super::ids::{ImageRef, ImageRepository, NotAnImageRepository};
use super::names::LaneNames;

pub const CATALOG_SCHEMA_VERSION: u32 = 1;

/// A catalog document; `D` and `C` are how its digests and commits are held ([`Digest`] and
/// [`Commit`], or text while it is being checked).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    rename_all = "camelCase",
    deny_unknown_fields,
    bound(deserialize = "D: Deserialize<'de>, C: Deserialize<'de>, R: Deserialize<'de>")
)]
pub struct CatalogDoc<D = Digest, C = Commit, R = ImageRepository> {
    pub schema_version: u32,
    /// Lane version (`v0.1`).
    pub lane: String,
    pub source_repo: String,
    pub source_branch: String,
    pub gitops_branch: String,
    /// The newest source commit promoted into this catalog (40 hex).
    pub source_commit: C,
    /// RFC 3339 UTC; changes only when an entry changes, so that an unchanged promote is a noop.
    pub updated_at: String,
    /// Entries by service id (sorted, so the file is deterministic).
    pub services: BTreeMap<String, CatalogEntry<D, C, R>>,
    /// Present while the lane's deploy intent is a deliberately restored earlier one
    /// (`lane rollback` of the whole lane); the next release of a newer source commit
    /// removes it (docs/rollback.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback: Option<Box<LaneRollback<C>>>,
}

/// A whole-lane rollback: the release it restores and the one it replaced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LaneRollback<C = Commit> {
    /// What the lane ran before. `sourceCommit` is the newest source commit released until
    /// then: a run of it, or of an older commit, is superseded until a newer one rolls forward.
    pub from: ReleaseRef<C>,
    /// The earlier release restored: its GitOps commit and the source commit of its intent.
    pub restores: ReleaseRef<C>,
    /// Who asked (`--requested-by`).
    pub requested_by: String,
    /// When (RFC 3339 UTC).
    pub at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// A release of the lane: a GitOps commit and the source commit its catalog records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReleaseRef<C = Commit> {
    pub source_commit: C,
    pub gitops_commit: C,
}

/// A service rolled back to an earlier catalog entry (status `rolled-back`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    rename_all = "camelCase",
    deny_unknown_fields,
    bound(deserialize = "D: Deserialize<'de>, C: Deserialize<'de>")
)]
pub struct EntryRollback<D = Digest, C = Commit> {
    /// What the service ran before.
    pub from: EntryFrom<D, C>,
    /// The earlier entry restored: its status then, its source commit, and the GitOps commit
    /// whose catalog held it.
    pub restores: EntryRestores<C>,
    /// Who asked (`--requested-by`).
    pub requested_by: String,
    /// When (RFC 3339 UTC).
    pub at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EntryFrom<D = Digest, C = Commit> {
    /// The digest the service ran before the rollback.
    pub digest: D,
    /// The newest source commit released for the service until then: a run of it, or of an
    /// older commit, is superseded until a newer one rolls forward.
    pub source_commit: C,
    /// The GitOps commit the rollback replaced.
    pub gitops_commit: C,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EntryRestores<C = Commit> {
    /// `published`, `reused` or `pinned`: the restored entry's status.
    pub status: EntryStatus,
    pub source_commit: C,
    pub gitops_commit: C,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    rename_all = "camelCase",
    deny_unknown_fields,
    bound(deserialize = "D: Deserialize<'de>, C: Deserialize<'de>, R: Deserialize<'de>")
)]
pub struct CatalogEntry<D = Digest, C = Commit, R = ImageRepository> {
    /// Component identity: service id and kind.
    pub component: ComponentIdentity,
    /// Full image repository including the registry host.
    pub image_repository: R,
    /// Built images: the 40-hex source commit the image was built from. Upstream images:
    /// the upstream tag.
    pub tag: String,
    /// `sha256:` + 64 hex: the schema2/OCI manifest (or index) digest containerd pulls.
    pub digest: D,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub platforms: Vec<String>,
    pub status: EntryStatus,
    /// The source commit of the run that last confirmed this entry (40 hex).
    pub source_commit: C,
    /// For `reused`: the commit the image was built from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reused_from: Option<C>,
    /// Build fingerprint (see docs/fingerprint.md); absent for upstream images.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
    /// PipelineRun that produced this entry, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pipeline_run: Option<String>,
    /// When the image was first published (RFC 3339 UTC).
    pub published_at: String,
    /// When the entry last changed (RFC 3339 UTC).
    pub updated_at: String,
    /// For `rolled-back`: what was rolled back from and to, and who asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback: Option<EntryRollback<D, C>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ComponentIdentity {
    pub service: String,
    pub kind: super::intent::ComponentKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum EntryStatus {
    /// Built and pushed by this lane for `tag`.
    Published,
    /// Build inputs unchanged; the image of `reused_from` is kept.
    Reused,
    /// Image-only upstream service, pinned by digest.
    Pinned,
    /// Deliberately returned to an earlier entry by `lane rollback` (see `rollback`).
    #[serde(rename = "rolled-back")]
    RolledBack,
}

impl EntryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            EntryStatus::Published => "published",
            EntryStatus::Reused => "reused",
            EntryStatus::Pinned => "pinned",
            EntryStatus::RolledBack => "rolled-back",
        }
    }
}

/// A catalog as the loader parses it, before its rules are checked.
pub type CatalogText = CatalogDoc<String, String, String>;
/// An entry of a [`CatalogText`].
pub type EntryText = CatalogEntry<String, String, String>;

impl CatalogEntry {
    /// `<repository>@<digest>`: the only form manifests may use.
    pub fn pinned_image(&self) -> ImageRef {
        self.image_repository.pinned(&self.digest)
    }

    /// The commit a built image was built from: its tag, which the catalog check holds to the
    /// full source commit for built images (rule `commit-tag`); `None` for an upstream image.
    pub fn built_from(&self) -> Option<Commit> {
        match self.image_status() {
            EntryStatus::Published | EntryStatus::Reused => {
                Commit::try_from(self.tag.as_str()).ok()
            }
            _ => None,
        }
    }
}

impl<D, C, R> CatalogEntry<D, C, R> {
    /// The status that describes the image: a rolled-back entry's is the restored entry's
    /// (`published`, `reused` or `pinned`).
    pub fn image_status(&self) -> EntryStatus {
        match (&self.status, &self.rollback) {
            (EntryStatus::RolledBack, Some(r)) => r.restores.status,
            (s, _) => *s,
        }
    }

    /// The newest source commit released for this service: for a rolled-back entry the one it
    /// was rolled back from, else its own. A run of this commit or an older one is superseded.
    pub fn newest_commit(&self) -> &C {
        match &self.rollback {
            Some(r) => &r.from.source_commit,
            None => &self.source_commit,
        }
    }
}

/// Longest `requestedBy` and `reason` of a rollback record.
pub const ROLLBACK_TEXT_MAX: usize = 256;

/// `requestedBy`/`reason`: one printable line, bounded (they also go into commit trailers).
pub fn rollback_text_problem(s: &str) -> Option<&'static str> {
    if s.trim().is_empty() {
        Some("must not be empty")
    } else if s.chars().count() > ROLLBACK_TEXT_MAX {
        Some("must be at most 256 characters")
    } else if s.chars().any(char::is_control) {
        Some("must be one line without control characters")
    } else {
        None
    }
}

impl CatalogDoc {
    /// An empty catalog for lane initialisation.
    pub fn empty(names: &LaneNames, source_commit: &Commit, now: &str) -> CatalogDoc {
        CatalogDoc {
            schema_version: CATALOG_SCHEMA_VERSION,
            lane: names.version.to_string(),
            source_repo: names.source_repo.clone(),
            source_branch: names.source_branch.to_string(),
            gitops_branch: names.gitops_branch.to_string(),
            source_commit: source_commit.clone(),
            updated_at: now.to_string(),
            services: BTreeMap::new(),
            rollback: None,
        }
    }
}

impl<D, C, R> CatalogDoc<D, C, R> {
    /// The newest source commit released to the lane: the one a whole-lane rollback was
    /// rolled back from, else `sourceCommit`.
    pub fn newest_commit(&self) -> &C {
        match &self.rollback {
            Some(r) => &r.from.source_commit,
            None => &self.source_commit,
        }
    }

    /// Deterministic JSON: 2-space indent, keys in struct/BTreeMap order, trailing newline.
    pub fn to_json_pretty(&self) -> String
    where
        D: Serialize,
        C: Serialize,
        R: Serialize,
    {
        let mut s = serde_json::to_string_pretty(self).expect("catalog serializes");
        s.push('\n');
        s
    }
}

impl CatalogDoc {
    /// The same document with its digests and commits as text, as the loader reads it back (for checking
    /// a catalog that was built, not loaded).
    #[cfg(test)]
    pub(crate) fn to_text(&self) -> CatalogText {
        serde_json::to_value(self)
            .and_then(serde_json::from_value)
            .expect("a typed catalog reads back as text")
    }
}

/// A field of a [`CatalogText`] that is not what its type asks (the catalog rules report each
/// one first, so the loader never meets this; it refuses the catalog all the same).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotTyped {
    #[error("a digest {0}")]
    Digest(#[from] NotADigest),
    #[error("a commit {0}")]
    Commit(#[from] NotACommit),
    #[error("an image repository {0}")]
    ImageRepository(#[from] NotAnImageRepository),
}

fn commit(s: String) -> Result<Commit, NotTyped> {
    Ok(Commit::try_from(s)?)
}

impl ReleaseRef<String> {
    fn into_typed(self) -> Result<ReleaseRef, NotTyped> {
        Ok(ReleaseRef {
            source_commit: commit(self.source_commit)?,
            gitops_commit: commit(self.gitops_commit)?,
        })
    }
}

impl CatalogText {
    /// The typed catalog, once its rules have passed (`model::check::catalog`).
    pub(in crate::model) fn into_typed(self) -> Result<CatalogDoc, NotTyped> {
        let services = self
            .services
            .into_iter()
            .map(|(id, e)| Ok((id, e.into_typed()?)))
            .collect::<Result<_, NotTyped>>()?;
        let rollback = match self.rollback {
            None => None,
            Some(r) => Some(Box::new(LaneRollback {
                from: r.from.into_typed()?,
                restores: r.restores.into_typed()?,
                requested_by: r.requested_by,
                at: r.at,
                reason: r.reason,
            })),
        };
        Ok(CatalogDoc {
            schema_version: self.schema_version,
            lane: self.lane,
            source_repo: self.source_repo,
            source_branch: self.source_branch,
            gitops_branch: self.gitops_branch,
            source_commit: commit(self.source_commit)?,
            updated_at: self.updated_at,
            services,
            rollback,
        })
    }
}

impl EntryText {
    fn into_typed(self) -> Result<CatalogEntry, NotTyped> {
        let rollback = match self.rollback {
            None => None,
            Some(r) => Some(EntryRollback {
                from: EntryFrom {
                    digest: Digest::try_from(r.from.digest)?,
                    source_commit: commit(r.from.source_commit)?,
                    gitops_commit: commit(r.from.gitops_commit)?,
                },
                restores: EntryRestores {
                    status: r.restores.status,
                    source_commit: commit(r.restores.source_commit)?,
                    gitops_commit: commit(r.restores.gitops_commit)?,
                },
                requested_by: r.requested_by,
                at: r.at,
                reason: r.reason,
            }),
        };
        Ok(CatalogEntry {
            component: self.component,
            image_repository: ImageRepository::try_from(self.image_repository)?,
            tag: self.tag,
            digest: Digest::try_from(self.digest)?,
            media_type: self.media_type,
            platforms: self.platforms,
            status: self.status,
            source_commit: commit(self.source_commit)?,
            reused_from: self.reused_from.map(commit).transpose()?,
            fingerprint: self.fingerprint,
            pipeline_run: self.pipeline_run,
            published_at: self.published_at,
            updated_at: self.updated_at,
            rollback,
        })
    }
}

/// A catalog that passed every catalog rule (and, where the reader names its lane, belongs to
/// it). Only the loader builds one (`model::check::catalog::parse_catalog`), so a value of this
/// type needs no second check; read it through [`std::ops::Deref`].
#[derive(Debug, Clone, PartialEq)]
pub struct Catalog(CatalogDoc);

impl Catalog {
    pub(in crate::model) fn checked(doc: CatalogDoc) -> Catalog {
        Catalog(doc)
    }

    /// The document, to build the next catalog from (which is checked again when it is
    /// loaded back).
    pub fn into_doc(self) -> CatalogDoc {
        self.0
    }
}

impl std::ops::Deref for Catalog {
    type Target = CatalogDoc;
    fn deref(&self) -> &CatalogDoc {
        &self.0
    }
}
