//! Per-service resolution: affected (built here: digest + provenance), reused (catalog digest
//! still present), pin (upstream tag → digest).

use serde_json::Value;

use super::provenance::{self, Expected};
use super::PublishError;
use crate::model::catalog::EntryStatus;
use crate::model::plan::{Decision, Plan, PlannedService};
use crate::model::publish::PublishedImage;
use crate::model::Digest;
use crate::output::progress;
use crate::registry::reference::digest_in;
use crate::registry::{media, Client, Manifest, Reference, RegistryError, Repository, Target};

/// Resolve one planned service to the image it publishes.
pub async fn resolve(
    client: &Client,
    plan: &Plan,
    svc: &PlannedService,
) -> Result<PublishedImage, PublishError> {
    let repository = svc
        .image_repository
        .as_ref()
        .ok_or_else(|| PublishError::PlanField {
            service: svc.id.to_string(),
            field: "imageRepository",
        })?;
    let repo = Repository::parse(repository).map_err(RegistryError::from)?;
    let tag = svc.tag.clone().ok_or_else(|| PublishError::PlanField {
        service: svc.id.to_string(),
        field: "tag",
    })?;
    // Every digest here is the registry client's own sha256 of a manifest, or one a HEAD by
    // digest confirmed.
    let image = |digest: Digest, media_type: String, platforms: Vec<String>, status| {
        Ok::<_, PublishError>(PublishedImage {
            service: svc.id.clone(),
            kind: svc.kind,
            repository: repository.clone(),
            tag: tag.clone(),
            digest,
            media_type,
            platforms,
            status,
            fingerprint: svc.fingerprint.clone(),
            reused_from: svc.reused_from.clone(),
        })
    };
    match svc.decision {
        Decision::Affected => {
            let r = Reference::new(repo.clone(), Target::Tag(tag.clone()))
                .map_err(RegistryError::from)?;
            let m = client.get_manifest(&r).await?;
            let want = Expected {
                service: &svc.id,
                commit: &plan.source_commit,
                source_repo: &plan.source_repo,
            };
            let platforms = check_provenance(client, &r, &m, &want).await?;
            confirm(client, &repo, &m).await?;
            progress(format!(
                "publish: {}: {r}@{} ({})",
                svc.id, m.digest, m.media_type
            ));
            image(m.digest, m.media_type, platforms, EntryStatus::Published)
        }
        Decision::Reused => {
            let digest = svc.digest.clone().ok_or_else(|| PublishError::PlanField {
                service: svc.id.to_string(),
                field: "digest",
            })?;
            let head = client.head_manifest(&repo, &digest).await?.ok_or_else(|| {
                PublishError::ReusedGone {
                    service: svc.id.to_string(),
                    reference: format!("{repo}@{digest}"),
                }
            })?;
            let mut media_type = head.media_type;
            let mut platforms = Vec::new();
            // A HEAD says nothing of the platforms; an index is read to report them, and a
            // missing Content-Type is settled by the document itself.
            if media::is_index(&media_type) || !media::is_image(&media_type) {
                let r = Reference::new(repo.clone(), Target::Digest(digest.clone()))
                    .map_err(RegistryError::from)?;
                let m = client.get_manifest(&r).await?;
                platforms = platform_names(index_platforms(&r, &m)?);
                media_type = m.media_type;
            }
            progress(format!("publish: {}: reused {repo}@{digest}", svc.id));
            image(digest, media_type, platforms, EntryStatus::Reused)
        }
        Decision::Pin => {
            let r = Reference::new(repo.clone(), Target::Tag(tag.clone()))
                .map_err(RegistryError::from)?;
            let m = client.get_manifest(&r).await?;
            let platforms = platform_names(index_platforms(&r, &m)?);
            confirm(client, &repo, &m).await?;
            progress(format!("publish: {}: pinned {r}@{}", svc.id, m.digest));
            image(m.digest, m.media_type, platforms, EntryStatus::Pinned)
        }
        Decision::Excluded | Decision::Unsupported => Err(PublishError::NotPublishable {
            service: svc.id.to_string(),
            decision: svc.decision.as_str(),
        }),
    }
}

/// HEAD by digest (same `Accept`): the digest about to be recorded is pullable as is.
async fn confirm(client: &Client, repo: &Repository, m: &Manifest) -> Result<(), PublishError> {
    match client.head_manifest(repo, &m.digest).await? {
        Some(h) if h.media_type.is_empty() || h.media_type == m.media_type => Ok(()),
        Some(h) => Err(RegistryError::UnexpectedMediaType {
            reference: format!("{repo}@{}", m.digest),
            media_type: h.media_type,
            want: "the media type the tag was served with",
        }
        .into()),
        None => Err(RegistryError::NotFound {
            reference: format!("{repo}@{}", m.digest),
            what: "the digest just read by tag is not served by digest".into(),
        }
        .into()),
    }
}

/// Check the config labels of the image, or of every child of an index a runtime could pull
/// ([`index_platforms`]): each is pulled on its own, so each must be this build.
async fn check_provenance(
    client: &Client,
    r: &Reference,
    m: &Manifest,
    want: &Expected<'_>,
) -> Result<Vec<String>, PublishError> {
    let repo = &r.repository;
    if media::is_image(&m.media_type) {
        check_config(client, r, &m.body, want).await?;
        return Ok(Vec::new());
    }
    let children = index_platforms(r, m)?;
    let mut seen = std::collections::BTreeSet::new();
    for (_, digest) in &children {
        if !seen.insert(digest.clone()) {
            continue;
        }
        let cr = Reference::by_digest(repo.clone(), digest.clone());
        let child = client.get_manifest(&cr).await?;
        if !media::is_image(&child.media_type) {
            return Err(RegistryError::UnexpectedMediaType {
                reference: cr.to_string(),
                media_type: child.media_type,
                want: "an image manifest inside the index",
            }
            .into());
        }
        check_config(client, &cr, &child.body, want).await?;
    }
    Ok(platform_names(children))
}

async fn check_config(
    client: &Client,
    r: &Reference,
    body: &[u8],
    want: &Expected<'_>,
) -> Result<(), PublishError> {
    let v: Value = parse(r, body, "manifest")?;
    let digest = v["config"]["digest"]
        .as_str()
        .ok_or_else(|| bad(r, "manifest", "no config.digest"))?;
    let digest = digest_in(&r.repository, digest).map_err(RegistryError::from)?;
    let config = client.get_blob(&r.repository, &digest).await?;
    let claim = provenance::claimed(&config).map_err(|d| bad(r, "image config", &d))?;
    match provenance::mismatch(&claim, want) {
        None => Ok(()),
        Some(detail) => Err(PublishError::Provenance {
            service: want.service.to_string(),
            reference: r.to_string(),
            detail,
        }),
    }
}

/// `(os/arch[/variant], digest)` of every child of an index a runtime could pull; empty for
/// an image. containerd matches a child without `platform` against any platform, and one
/// with a real platform whatever its annotations say, so both are checked (a child without
/// `platform` has no platform to report: `None`). Only a child that declares the platform
/// `unknown/unknown` (how BuildKit stores attestations) can never be pulled and is skipped.
fn index_platforms(
    r: &Reference,
    m: &Manifest,
) -> Result<Vec<(Option<String>, Digest)>, PublishError> {
    if !media::is_index(&m.media_type) {
        return Ok(Vec::new());
    }
    let v = parse(r, &m.body, "index")?;
    let list = v["manifests"]
        .as_array()
        .ok_or_else(|| bad(r, "index", "no manifests array"))?;
    let mut out = Vec::new();
    for c in list {
        let digest = c["digest"]
            .as_str()
            .ok_or_else(|| bad(r, "index", "an entry has no digest"))?;
        let digest = digest_in(&r.repository, digest).map_err(RegistryError::from)?;
        let p = &c["platform"];
        if p.is_null() {
            out.push((None, digest));
            continue;
        }
        let os = p["os"].as_str().unwrap_or("unknown");
        let arch = p["architecture"].as_str().unwrap_or("unknown");
        if os == "unknown" && arch == "unknown" {
            continue;
        }
        let platform = match p["variant"].as_str() {
            Some(v) if !v.is_empty() => format!("{os}/{arch}/{v}"),
            _ => format!("{os}/{arch}"),
        };
        out.push((Some(platform), digest));
    }
    if out.is_empty() {
        return Err(bad(r, "index", "it lists no platform a runtime could pull"));
    }
    Ok(out)
}

/// The platforms of pullable children, for the report (children without one are checked
/// but have nothing to list).
fn platform_names(children: Vec<(Option<String>, Digest)>) -> Vec<String> {
    children.into_iter().filter_map(|(p, _)| p).collect()
}

fn parse(r: &Reference, body: &[u8], what: &'static str) -> Result<Value, PublishError> {
    serde_json::from_slice(body).map_err(|e| bad(r, what, &e.to_string()))
}

fn bad(r: &Reference, what: &'static str, detail: &str) -> PublishError {
    RegistryError::BadDocument {
        reference: r.to_string(),
        what,
        detail: detail.to_string(),
    }
    .into()
}
