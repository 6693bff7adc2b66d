//! The publish result: what `publish` proved about each image, read by `promote`.

use serde::{Deserialize, Serialize};

use super::catalog::{CatalogEntry, ComponentIdentity, EntryStatus};
use super::commit::Commit;
use super::digest::{Digest, NotADigest};
use super::intent::ComponentKind;
use super::{ImageRepository, ServiceId};

/// A publish result. Its digests are [`Digest`]s; promote reads a file as
/// `PublishResult<String>` first, so that every rule is reported in its order, and
/// [`PublishedImage::into_checked`] types each image.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PublishResult<D = Digest> {
    pub schema_version: u32,
    pub lane: String,
    /// Full 40-hex source commit of the run.
    pub source_commit: Commit,
    pub images: Vec<PublishedImage<D>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PublishedImage<D = Digest> {
    pub service: ServiceId,
    pub kind: ComponentKind,
    /// Full repository, registry host included.
    pub repository: ImageRepository,
    pub tag: String,
    /// The schema2/OCI manifest or index digest, confirmed by a HEAD by digest.
    pub digest: D,
    pub media_type: String,
    /// Platforms of a manifest list / OCI index (`linux/amd64`, …); empty for one manifest.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub platforms: Vec<String>,
    pub status: EntryStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reused_from: Option<Commit>,
}

impl PublishedImage<String> {
    /// The typed image, once its digest is one.
    pub fn into_checked(self) -> Result<PublishedImage, NotADigest> {
        Ok(PublishedImage {
            digest: Digest::try_from(self.digest)?,
            service: self.service,
            kind: self.kind,
            repository: self.repository,
            tag: self.tag,
            media_type: self.media_type,
            platforms: self.platforms,
            status: self.status,
            fingerprint: self.fingerprint,
            reused_from: self.reused_from,
        })
    }
}

impl PublishedImage {
    /// The catalog entry this image becomes for a run of `source_commit`.
    pub fn to_entry(
        &self,
        source_commit: &Commit,
        pipeline_run: Option<&str>,
        now: &str,
    ) -> CatalogEntry {
        CatalogEntry {
            component: ComponentIdentity {
                service: self.service.to_string(),
                kind: self.kind,
            },
            image_repository: self.repository.clone(),
            tag: self.tag.clone(),
            digest: self.digest.clone(),
            media_type: Some(self.media_type.clone()),
            platforms: self.platforms.clone(),
            status: self.status,
            source_commit: source_commit.clone(),
            reused_from: self.reused_from.clone(),
            fingerprint: self.fingerprint.clone(),
            pipeline_run: pipeline_run.map(str::to_string),
            published_at: now.to_string(),
            updated_at: now.to_string(),
            rollback: None,
        }
    }
}
