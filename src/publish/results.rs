//! Files `publish` leaves for later steps: the publish result for `promote`, and Tekton
//! results in the forms Tekton Chains reads (`IMAGE_URL`/`IMAGE_DIGEST`, `IMAGES`,
//! `*_ARTIFACT_OUTPUTS`). Chains attests what this run built, so only `published` images
//! appear in the Tekton results; reused and pinned ones are in the publish result only.

use std::path::{Path, PathBuf};

use crate::fsutil;
use crate::model::catalog::EntryStatus;
use crate::model::publish::{PublishResult, PublishedImage};

#[derive(Debug, Clone, Default)]
pub struct ResultPaths {
    pub out: Option<PathBuf>,
    pub image_url: Option<PathBuf>,
    pub image_digest: Option<PathBuf>,
    pub images: Option<PathBuf>,
    pub artifact_outputs: Option<PathBuf>,
}

/// Write every requested file, all or nothing (see [`fsutil::write_all_atomic`]): a Tekton
/// result never stays behind when `--out` could not be written. Returns the paths written.
pub fn write_all(
    paths: &ResultPaths,
    result: &PublishResult,
) -> Result<Vec<String>, (PathBuf, std::io::Error)> {
    let built: Vec<&PublishedImage> = result
        .images
        .iter()
        .filter(|i| i.status == EntryStatus::Published)
        .collect();
    // Single-image results are empty unless exactly one image was built: Chains then reads IMAGES.
    let one = if built.len() == 1 {
        Some(built[0])
    } else {
        None
    };
    let mut files: Vec<(&Path, Vec<u8>)> = Vec::new();
    if let Some(p) = &paths.image_url {
        files.push((
            p.as_path(),
            one.map(|i| format!("{}:{}", i.repository, i.tag))
                .unwrap_or_default()
                .into_bytes(),
        ));
    }
    if let Some(p) = &paths.image_digest {
        files.push((
            p.as_path(),
            one.map(|i| i.digest.to_string())
                .unwrap_or_default()
                .into_bytes(),
        ));
    }
    if let Some(p) = &paths.images {
        let list: Vec<String> = built
            .iter()
            .map(|i| format!("{}@{}", i.repository, i.digest))
            .collect();
        files.push((p.as_path(), list.join("\n").into_bytes()));
    }
    if let Some(p) = &paths.artifact_outputs {
        let v = serde_json::json!({
            "uri": one.map(|i| i.repository.as_str()).unwrap_or(""),
            "digest": one.map(|i| i.digest.as_str()).unwrap_or(""),
        });
        files.push((p.as_path(), v.to_string().into_bytes()));
    }
    // The publish result last: `promote` trusts its presence.
    if let Some(p) = &paths.out {
        let mut text = serde_json::to_string_pretty(result)
            .map_err(|e| (p.clone(), std::io::Error::other(e)))?;
        text.push('\n');
        files.push((p.as_path(), text.into_bytes()));
    }
    fsutil::write_all_atomic(&files).map_err(|(p, e)| (p.to_path_buf(), e))?;
    Ok(files.iter().map(|(p, _)| p.display().to_string()).collect())
}
