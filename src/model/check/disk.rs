//! Paths on disk: build paths checked against the source checkout, symlinks included.

use std::path::{Path, PathBuf};

use super::{truncate, Finding};
use crate::model::intent::IntentText;
use crate::model::rules;

/// Filesystem checks of build paths: they must exist and not leave the repo through symlinks.
pub fn check_paths_on_disk(d: &IntentText, root: &Path) -> Vec<Finding> {
    let mut out = Vec::new();
    let root_real = match root.canonicalize() {
        Ok(r) if r.is_dir() => r,
        _ => {
            // Skipping every path check silently would pass a tree that was never looked at.
            out.push(Finding {
                path: "$".into(),
                rule: "repo-root".into(),
                message: format!(
                    "the repository root '{}' is not a directory, so no build path could be checked; pass the source checkout",
                    truncate(&root.display().to_string(), 200)
                ),
            });
            return out;
        }
    };
    for (i, s) in d.services.iter().enumerate() {
        let Some(b) = &s.build else { continue };
        for (field, v, want_dir) in [
            ("context", &b.context, true),
            ("dockerfile", &b.dockerfile, false),
        ] {
            if rules::repo_path_problem(v).is_some() {
                continue; // already reported
            }
            let path = format!("$.services[{i}].build.{field}");
            let full: PathBuf = root.join(rules::normalize_repo_path(v));
            match full.canonicalize() {
                Err(_) => out.push(Finding {
                    path,
                    rule: "path-missing".into(),
                    message: format!("'{}' does not exist in the repository", truncate(v, 200)),
                }),
                Ok(real) if !real.starts_with(&root_real) => out.push(Finding {
                    path,
                    rule: "path-escapes".into(),
                    message: format!(
                        "'{}' resolves outside the repository through a symlink",
                        truncate(v, 200)
                    ),
                }),
                Ok(real) if real.is_dir() != want_dir => out.push(Finding {
                    path,
                    rule: "path-kind".into(),
                    message: format!(
                        "'{}' must be a {}",
                        truncate(v, 200),
                        if want_dir { "directory" } else { "file" }
                    ),
                }),
                Ok(_) => {}
            }
        }
    }
    out
}
