//! deploy.json as committed: the one loader of the lane at a source commit, for plan,
//! promote, rollback and verify. The git layer reads the blob (and knows nothing of lane
//! documents); this module knows where deploy.json lives and checks it with
//! [`super::check`], naming it `<commit>:deploy/deploy.json` in findings.

use super::{InputError, Lane};
use crate::git::{GitError, Repo};

/// Where deploy.json lives in the source repository.
pub const DEPLOY_PATH: &str = "deploy/deploy.json";

/// Why the lane at a commit could not be loaded. Each caller reports the three cases in its
/// own terms (an exit class, a failed check).
#[derive(Debug, thiserror::Error)]
pub enum LaneAtError {
    /// The commit or its tree could not be read.
    #[error("cannot read {file}: {source}")]
    Read {
        file: String,
        #[source]
        source: GitError,
    },
    /// The commit has no deploy.json file (nothing, or a directory or link, at its path).
    #[error("{file} does not exist")]
    Missing { file: String },
    /// deploy.json is there and rejected.
    #[error(transparent)]
    Invalid(#[from] InputError),
}

/// `<commit>:deploy/deploy.json`, the name findings and evidence give the file.
pub fn deploy_file_at(commit: &str) -> String {
    format!("{commit}:{DEPLOY_PATH}")
}

impl Lane {
    /// The lane as deploy.json at `commit` declares it. Build paths are not checked on disk:
    /// the working tree need not match the commit.
    pub fn at_commit(repo: &Repo, commit: &str) -> Result<Lane, LaneAtError> {
        let file = deploy_file_at(commit);
        match repo.read_file(commit, DEPLOY_PATH) {
            Ok(Some(bytes)) => Ok(Lane::parse(&bytes, &file)?),
            Ok(None) => Err(LaneAtError::Missing { file }),
            Err(source) => Err(LaneAtError::Read { file, source }),
        }
    }
}
