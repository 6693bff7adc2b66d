//! Typed models at the edges: deploy intent (hand-written), catalog, plan and publish
//! documents (machine-written), lane names, and the rules that check them.

pub mod at_commit;
pub mod catalog;
pub mod catalog_at;
pub mod check;
pub mod commit;
pub mod digest;
pub mod intent;
pub mod json;
pub mod labels;
pub mod names;
pub mod plan;
pub mod publish;
pub mod rules;
pub mod secrets;

use std::path::Path;

pub use at_commit::{LaneAtError, DEPLOY_PATH};
pub use catalog::{Catalog, CatalogDoc, CatalogEntry, EntryStatus};
pub use catalog_at::CatalogAtError;
pub use check::{Finding, InputError};
pub use commit::Commit;
pub use digest::Digest;
pub use intent::DeployIntent;
pub use names::LaneNames;

/// A lane as every subcommand sees it: the checked intent and its resolved names.
#[derive(Debug, Clone)]
pub struct Lane {
    pub intent: DeployIntent,
    pub names: LaneNames,
}

impl Lane {
    pub fn from_intent(intent: DeployIntent) -> Lane {
        let names = LaneNames::resolve(&intent.lane);
        Lane { intent, names }
    }

    /// Load `deploy.json` from disk (with on-disk path checks against `repo_root`).
    pub fn load(path: &Path, repo_root: Option<&Path>) -> Result<Lane, InputError> {
        check::load_intent(path, repo_root).map(Lane::from_intent)
    }

    /// Parse `deploy.json` bytes read from git (`file` names where they came from).
    pub fn parse(bytes: &[u8], file: &str) -> Result<Lane, InputError> {
        check::parse_intent(bytes, file, None).map(Lane::from_intent)
    }
}
