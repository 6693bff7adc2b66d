//! Image references: `host[:port]/path[:tag|@digest]`, with Docker Hub's implicit host and
//! `library/` prefix made explicit so that auth and URLs never guess.

use std::fmt;

use crate::digest::Digest;

/// Docker Hub as named in references and in docker `config.json`.
pub const DOCKER_HUB: &str = "docker.io";
/// Docker Hub's actual registry API host.
const DOCKER_HUB_API: &str = "registry-1.docker.io";

/// What a reference points at: a tag or a content digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Tag(String),
    Digest(Digest),
}

impl Target {
    pub fn as_str(&self) -> &str {
        match self {
            Target::Tag(t) => t,
            Target::Digest(d) => d.as_str(),
        }
    }
}

/// A repository in a registry (`127.0.0.1:5000/agentrun/mgr`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Repository {
    /// Host as written (`docker.io` for Docker Hub), used for credentials lookup.
    pub host: String,
    /// Path inside the registry (`agentrun/mgr`, `library/postgres`).
    pub path: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    pub repository: Repository,
    pub target: Target,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid image reference `{reference}`: {reason}")]
pub struct ReferenceError {
    pub reference: String,
    pub reason: &'static str,
}

fn is_path_component(c: &str) -> bool {
    !c.is_empty()
        && c.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
        && c.as_bytes()[0].is_ascii_alphanumeric()
        && c.as_bytes()[c.len() - 1].is_ascii_alphanumeric()
}

fn is_tag(t: &str) -> bool {
    !t.is_empty()
        && t.len() <= 128
        && t.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        && t.as_bytes()[0] != b'.'
        && t.as_bytes()[0] != b'-'
}

/// A digest a registry document names (an index's child, a manifest's config) in `repository`:
/// refused as [`Reference::new`] refuses a malformed one.
pub fn digest_in(repository: &Repository, text: &str) -> Result<Digest, ReferenceError> {
    Digest::try_from(text).map_err(|_| ReferenceError {
        reference: format!("{repository}:{text}"),
        reason: "malformed tag or digest",
    })
}

impl Repository {
    /// Parse `host/path` (a first component with `.`, `:` or `localhost` is the host;
    /// otherwise Docker Hub, with `library/` for one-component names).
    pub fn parse(s: &str) -> Result<Repository, ReferenceError> {
        let err = |reason| ReferenceError {
            reference: s.to_string(),
            reason,
        };
        let (host, path) = match s.split_once('/') {
            Some((h, p)) if h.contains('.') || h.contains(':') || h == "localhost" => {
                (h.to_string(), p.to_string())
            }
            Some(_) => (DOCKER_HUB.to_string(), s.to_string()),
            None => (DOCKER_HUB.to_string(), format!("library/{s}")),
        };
        if host.is_empty() || host.contains(['@', ' ']) {
            return Err(err("the registry host is empty or malformed"));
        }
        if !path.split('/').all(is_path_component) {
            return Err(err(
                "path components must be lowercase letters, digits, `.`, `_` or `-`",
            ));
        }
        let path = if host == DOCKER_HUB && !path.contains('/') {
            format!("library/{path}")
        } else {
            path
        };
        Ok(Repository { host, path })
    }

    /// Host the registry API is served on.
    pub fn api_host(&self) -> &str {
        if self.host == DOCKER_HUB || self.host == "index.docker.io" {
            DOCKER_HUB_API
        } else {
            &self.host
        }
    }
}

impl fmt::Display for Repository {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.host, self.path)
    }
}

impl Reference {
    /// Parse `host/repo:tag`, `host/repo@sha256:…` (a digest wins over a tag).
    pub fn parse(s: &str) -> Result<Reference, ReferenceError> {
        let err = |reason| ReferenceError {
            reference: s.to_string(),
            reason,
        };
        let (name, target) = if let Some((name, digest)) = s.split_once('@') {
            let Ok(digest) = Digest::try_from(digest) else {
                return Err(err(
                    "the digest must be sha256: and 64 lowercase hex digits",
                ));
            };
            // `repo:tag@digest`: the digest is what is pulled.
            let name = match name.rsplit_once(':') {
                Some((n, t)) if !t.contains('/') => n,
                _ => name,
            };
            (name, Target::Digest(digest))
        } else {
            match s.rsplit_once(':') {
                Some((n, t)) if !t.contains('/') => {
                    if !is_tag(t) {
                        return Err(err("the tag must be letters, digits, `.`, `_` or `-`"));
                    }
                    (n, Target::Tag(t.to_string()))
                }
                _ => return Err(err("a tag (`:tag`) or digest (`@sha256:…`) is required")),
            }
        };
        Ok(Reference {
            repository: Repository::parse(name)?,
            target,
        })
    }

    /// The content `digest` names in `repository` (a [`Digest`] is well-formed already).
    pub fn by_digest(repository: Repository, digest: Digest) -> Reference {
        Reference {
            repository,
            target: Target::Digest(digest),
        }
    }

    pub fn new(repository: Repository, target: Target) -> Result<Reference, ReferenceError> {
        let ok = match &target {
            Target::Tag(t) => is_tag(t),
            Target::Digest(_) => true,
        };
        if !ok {
            return Err(ReferenceError {
                reference: format!("{repository}:{}", target.as_str()),
                reason: "malformed tag or digest",
            });
        }
        Ok(Reference { repository, target })
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.target {
            Target::Tag(t) => write!(f, "{}:{t}", self.repository),
            Target::Digest(d) => write!(f, "{}@{d}", self.repository),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_host_port_tag_and_digest() {
        let r = Reference::parse("127.0.0.1:5000/agentrun/mgr:0123abc").unwrap();
        assert_eq!(r.repository.host, "127.0.0.1:5000");
        assert_eq!(r.repository.path, "agentrun/mgr");
        assert_eq!(r.target, Target::Tag("0123abc".into()));
        let d = format!("sha256:{}", "a".repeat(64));
        let r = Reference::parse(&format!("ghcr.io/o/r:v1@{d}")).unwrap();
        assert_eq!(
            r.target,
            Target::Digest(Digest::try_from(d.as_str()).unwrap())
        );
        assert_eq!(r.to_string(), format!("ghcr.io/o/r@{d}"));
    }

    #[test]
    fn docker_hub_is_explicit() {
        let r = Reference::parse("postgres:16").unwrap();
        assert_eq!(r.repository.to_string(), "docker.io/library/postgres");
        assert_eq!(r.repository.api_host(), "registry-1.docker.io");
        let r = Reference::parse("docker.io/postgres:16").unwrap();
        assert_eq!(r.repository.path, "library/postgres");
        let r = Reference::parse("bitnami/redis:7").unwrap();
        assert_eq!(r.repository.path, "bitnami/redis");
        let r = Reference::parse("localhost/x:1").unwrap();
        assert_eq!(r.repository.host, "localhost");
    }

    #[test]
    fn rejects_malformed() {
        assert!(Reference::parse("127.0.0.1:5000/agentrun/mgr").is_err());
        assert!(Reference::parse("h.io/Upper:1").is_err());
        assert!(Reference::parse("h.io/x@sha256:abc").is_err());
        assert!(Reference::parse("h.io/x:-bad").is_err());
    }
}
