//! Names deploy.json gives that the rest of the lane builds on: a service's id and a
//! repository-relative path. Each can only be built valid (its rule is the one
//! `model::check` reports with), so the checked intent carries them typed and no reader checks
//! them again. The intent as parsed ([`super::intent::IntentText`]) holds them as text, so the
//! rule passes report every bad one, not just the first.

use serde::{Deserialize, Serialize};

use super::rules;
use crate::digest::Digest;
use crate::newtype::text_newtype;

/// A service id: a DNS-1123 label of at most 50 characters (the runtime objects append
/// suffixes such as `-config` within Kubernetes' 63).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ServiceId(String);

/// Text that is not a service id (the text itself is not kept).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("service id must be a DNS-1123 label of at most 50 characters")]
pub struct NotAServiceId;

impl ServiceId {
    /// The rule `check` reports as `dns1123-label` on `$.services[i].id`.
    pub fn is_valid(s: &str) -> bool {
        rules::is_dns1123_label(s) && s.len() <= 50
    }
}

text_newtype!(ServiceId, NotAServiceId);

/// A path inside the repository: relative, `/`-separated, no `..`, no control characters,
/// at most 1024 bytes ([`rules::repo_path_problem`] says which rule a text breaks).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RepoPath(String);

/// Text that is not a repository-relative path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("must be a repository-relative path")]
pub struct NotARepoPath;

impl RepoPath {
    pub fn is_valid(s: &str) -> bool {
        rules::repo_path_problem(s).is_none()
    }

    /// The path in its one spelling, as git's trees name it (`./a//b/` → `a/b`, `.` → `""`,
    /// the repository root). The path as written is what documents show.
    pub fn normalized(&self) -> String {
        rules::normalize_repo_path(&self.0)
    }
}

text_newtype!(RepoPath, NotARepoPath);

/// A fully qualified image repository, `host[:port]/path` (`127.0.0.1:5000/agentrun/mgr`,
/// `docker.io/library/redis`), at most 255 characters ([`rules::is_qualified_repository`]).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ImageRepository(String);

/// Text that is not a fully qualified image repository.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("must be a fully qualified image repository like docker.io/library/redis")]
pub struct NotAnImageRepository;

impl ImageRepository {
    pub fn is_valid(s: &str) -> bool {
        rules::is_qualified_repository(s)
    }

    /// A repository the deploy.json checks already proved: its host and path each passed
    /// their rule and the whole the `image-repository` rule (`model::check::service`).
    pub(in crate::model) fn checked(s: String) -> ImageRepository {
        debug_assert!(ImageRepository::is_valid(&s), "{s}");
        ImageRepository(s)
    }

    /// This repository's image with `digest`: the only form manifests use.
    pub fn pinned(&self, digest: &Digest) -> ImageRef {
        ImageRef(format!("{}@{digest}", self.0))
    }
}

text_newtype!(ImageRepository, NotAnImageRepository);

/// An image pinned by digest, `<repository>@sha256:<64 hex>`: built only from an
/// [`ImageRepository`] and a [`Digest`] ([`ImageRepository::pinned`]), or parsed whole.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ImageRef(String);

/// Text that is not an image pinned by digest.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("must be an image pinned by digest, <repository>@sha256:<64 hex>")]
pub struct NotAnImageRef;

impl ImageRef {
    pub fn is_valid(s: &str) -> bool {
        s.rsplit_once('@').is_some_and(|(repo, digest)| {
            ImageRepository::is_valid(repo) && Digest::is_valid(digest)
        })
    }

    /// The repository part (everything before `@`).
    pub fn repository(&self) -> &str {
        self.0.rsplit_once('@').map_or("", |(r, _)| r)
    }
}

text_newtype!(ImageRef, NotAnImageRef);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_valid_ids_and_paths_are_built() {
        assert!(ServiceId::try_from("agentrun-mgr").is_ok());
        for bad in ["", "Mgr", "-x", "x-", "a_b", &"a".repeat(51)] {
            assert_eq!(ServiceId::try_from(bad), Err(NotAServiceId), "{bad}");
        }
        assert!(RepoPath::try_from("apps/mgr/Dockerfile").is_ok());
        for bad in ["", "/abs", "a/../b", "a\\b", "c:x", "a\nb"] {
            assert_eq!(RepoPath::try_from(bad), Err(NotARepoPath), "{bad:?}");
        }
        let repo = ImageRepository::try_from("127.0.0.1:5000/agentrun/mgr").unwrap();
        let d = Digest::try_from(format!("sha256:{}", "a".repeat(64))).unwrap();
        let pinned = repo.pinned(&d);
        assert_eq!(pinned, format!("127.0.0.1:5000/agentrun/mgr@{d}"));
        assert_eq!(pinned.repository(), "127.0.0.1:5000/agentrun/mgr");
        assert_eq!(ImageRef::try_from(pinned.to_string()), Ok(pinned));
        for bad in [
            "agentrun/mgr",
            "h.io/Up",
            &format!("h.io/{}", "a".repeat(255)),
        ] {
            assert!(ImageRepository::try_from(bad).is_err(), "{bad}");
        }
        assert!(ImageRef::try_from("h.io/x:1").is_err());
        let e = serde_json::from_str::<ServiceId>("\"Bad_Id\"").unwrap_err();
        assert!(e.to_string().contains("DNS-1123"), "{e}");
    }
}
