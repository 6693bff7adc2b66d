//! Reading the publish results a promote applies.

use std::path::{Path, PathBuf};

use super::PromoteError;
use crate::model::check;
use crate::model::publish::{PublishResult, PublishedImage};
use crate::model::Lane;

/// Every `*.json` file named, or inside a named directory (not recursive), sorted.
fn files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, PromoteError> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(p)
                .map_err(|e| PromoteError::Publish(format!("{}: {e}", p.display())))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| f.is_file() && f.extension().is_some_and(|x| x == "json"))
                .collect();
            found.sort();
            out.extend(found);
        } else {
            out.push(p.clone());
        }
    }
    if out.is_empty() {
        return Err(PromoteError::Publish(
            "no publish result files found in the --publish paths".into(),
        ));
    }
    Ok(out)
}

/// One file as written, digests still text: [`load`] reports each rule in its order.
fn read_one(path: &Path) -> Result<PublishResult<String>, PromoteError> {
    let file = path.display().to_string();
    let bytes = check::read_limited(path)?;
    let value = check::parse_json(&bytes, &file)?;
    Ok(check::from_value(value, &file)?)
}

/// Load the publish results, all for `lane` and `commit`, every image for a declared service
/// with a well-formed digest; duplicates must agree.
pub fn load(
    paths: &[PathBuf],
    lane: &Lane,
    commit: &str,
) -> Result<Vec<PublishedImage>, PromoteError> {
    let mut images = Vec::new();
    for f in files(paths)? {
        let r = read_one(&f)?;
        let name = f.display();
        if r.lane != lane.names.version {
            return Err(PromoteError::Publish(format!(
                "{name}: $.lane is '{}' but this lane is '{}'; a lane never promotes another lane's images",
                r.lane, lane.names.version
            )));
        }
        if r.source_commit != commit {
            return Err(PromoteError::Publish(format!(
                "{name}: $.sourceCommit is {} but --commit resolves to {commit}; all publish results must be for the promoted commit",
                r.source_commit
            )));
        }
        for (i, img) in r.images.into_iter().enumerate() {
            if lane.intent().service(&img.service).is_none() {
                return Err(PromoteError::Publish(format!(
                    "{name}: $.images[{i}].service '{}' is not declared in deploy.json",
                    img.service
                )));
            }
            if img.status == crate::model::EntryStatus::RolledBack {
                return Err(PromoteError::Publish(format!(
                    "{name}: $.images[{i}].status rolled-back is written only by `lane rollback`"
                )));
            }
            let img = img.into_checked().map_err(|_| {
                PromoteError::Publish(format!(
                    "{name}: $.images[{i}].digest must be sha256: followed by 64 lowercase hex"
                ))
            })?;
            images.push(img);
        }
    }
    super::merge::dedupe(images).map_err(|id| {
        PromoteError::Publish(format!(
            "two different images for service '{id}' in the --publish inputs"
        ))
    })
}
