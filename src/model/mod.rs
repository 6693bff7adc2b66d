//! Typed models at the edges: deploy intent (hand-written), catalog, plan and publish
//! documents (machine-written), lane names, and the rules that check them.

pub mod at_commit;
pub mod catalog;
pub mod catalog_at;
pub mod check;
/// A commit id is git's notion; it lives below the git layer and the lane documents.
pub use crate::commit;
/// The digest is an OCI notion the registry layer parses too; it lives below both.
pub use crate::digest;
pub mod ids;
pub mod intent;
pub mod json;
pub mod labels;
pub mod names;
pub mod plan;
pub mod publish;
pub mod rules;
pub mod secrets;

use std::path::Path;

pub use crate::newtype::TypeMismatch;
pub use at_commit::{LaneAtError, DEPLOY_PATH};
pub use catalog::{Catalog, CatalogDoc, CatalogEntry, EntryStatus};
pub use catalog_at::CatalogAtError;
pub use check::{Finding, InputError};
pub use commit::Commit;
pub use digest::Digest;
pub use ids::{ImageRef, ImageRepository, RepoPath, ServiceId};
pub use intent::DeployIntent;
pub use names::LaneNames;

/// A lane as every subcommand sees it: the checked intent and its resolved names. Only the
/// loaders below build one, and the intent is read-only ([`Lane::intent`]), so every rule of
/// `model::check` holds for its intent and its readers (plan, render, promote, verify,
/// generate, status) do not check it again. [`Lane::unchecked`] exists only in builds with
/// the `test-support` feature, which the shipped binary never has.
#[derive(Debug, Clone)]
pub struct Lane {
    intent: DeployIntent,
    pub names: LaneNames,
    _checked: Checked,
}

/// Proof that a [`Lane`] came from a loader of this module: private, so no other module can
/// write a `Lane { .. }` (`#[non_exhaustive]` would only keep other crates out).
#[derive(Debug, Clone)]
struct Checked;

impl Lane {
    /// The lane of a checked intent, its names typed (the rules of `check::lane` held them
    /// to their types already; `file` is named if they ever disagree).
    fn checked(intent: DeployIntent, file: &str) -> Result<Lane, InputError> {
        let names = names::NamesText::resolve(&intent.lane)
            .into_checked()
            .map_err(|_| check::load::type_mismatch(file))?;
        Ok(Lane {
            intent,
            names,
            _checked: Checked,
        })
    }

    /// The checked deploy intent.
    pub fn intent(&self) -> &DeployIntent {
        &self.intent
    }

    /// A lane whose intent skipped the deploy.json checks. Only for tests that prove render's
    /// own guards hold when the checks are bypassed (tests/suite/render_injection.rs): it
    /// exists with the `test-support` feature alone, which the tests turn on (Cargo.toml's
    /// dev-dependency on this package) and no release build has.
    #[cfg(feature = "test-support")]
    pub fn unchecked(intent: DeployIntent) -> Lane {
        Lane::checked(intent, "(unchecked)").expect("an unchecked lane's names are still names")
    }

    /// Load `deploy.json` from disk (with on-disk path checks against `repo_root`).
    pub fn load(path: &Path, repo_root: Option<&Path>) -> Result<Lane, InputError> {
        let file = path.display().to_string();
        check::load_intent(path, repo_root).and_then(|i| Lane::checked(i, &file))
    }

    /// Parse `deploy.json` bytes read from git (`file` names where they came from).
    pub fn parse(bytes: &[u8], file: &str) -> Result<Lane, InputError> {
        Lane::parse_in(bytes, file, None)
    }

    /// [`Lane::parse`] with the build paths also checked against the checkout at `repo_root`.
    pub fn parse_in(
        bytes: &[u8],
        file: &str,
        repo_root: Option<&Path>,
    ) -> Result<Lane, InputError> {
        check::parse_intent(bytes, file, repo_root).and_then(|i| Lane::checked(i, file))
    }
}
