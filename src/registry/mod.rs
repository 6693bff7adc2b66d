//! OCI registry access for `publish`: a small distribution-API client on `reqwest`
//! (see docs/decisions.md, "Registry"). Manifests are always asked for with an `Accept` of
//! the four pullable types, so that no registry falls back to the schema1 compatibility
//! manifest whose digest containerd cannot pull.

pub mod auth;
pub mod client;
pub mod reference;
pub mod retry;

pub use client::{Client, ClientConfig, Manifest, PlainHttp};
pub use reference::{Reference, Repository, Target};

use crate::error::{Classified, ExitClass};

/// Manifest media types.
pub mod media {
    pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
    pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
    pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
    pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
    pub const SCHEMA1_SIGNED: &str = "application/vnd.docker.distribution.manifest.v1+prettyjws";
    pub const SCHEMA1: &str = "application/vnd.docker.distribution.manifest.v1+json";

    /// What every manifest request accepts: exactly the types containerd pulls by digest.
    pub const ACCEPT: &str = "application/vnd.docker.distribution.manifest.v2+json, \
application/vnd.docker.distribution.manifest.list.v2+json, \
application/vnd.oci.image.manifest.v1+json, \
application/vnd.oci.image.index.v1+json";

    pub fn is_index(m: &str) -> bool {
        m == DOCKER_LIST || m == OCI_INDEX
    }

    pub fn is_image(m: &str) -> bool {
        m == DOCKER_MANIFEST || m == OCI_MANIFEST
    }

    pub fn is_schema1(m: &str) -> bool {
        m == SCHEMA1_SIGNED || m == SCHEMA1
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("{reference}: the registry at {host} cannot be reached: {detail}")]
    Unreachable {
        reference: String,
        host: String,
        detail: String,
    },
    #[error(
        "{reference}: no usable answer from {host} within the retries and the deadline: {last}"
    )]
    GaveUp {
        reference: String,
        host: String,
        last: String,
    },
    #[error("{reference}: not found in the registry ({what})")]
    NotFound { reference: String, what: String },
    #[error(
        "{reference}: the registry answered with a Docker schema1 manifest ({media_type}); \
its digest is a compatibility digest that containerd cannot pull, so it is never recorded"
    )]
    Schema1 {
        reference: String,
        media_type: String,
    },
    #[error("{reference}: Docker-Content-Digest {header} differs from the sha256 of the body, {computed}")]
    DigestMismatch {
        reference: String,
        header: String,
        computed: String,
    },
    #[error("{reference}: unexpected media type `{media_type}` (want {want})")]
    UnexpectedMediaType {
        reference: String,
        media_type: String,
        want: &'static str,
    },
    #[error("{reference}: invalid {what}: {detail}")]
    BadDocument {
        reference: String,
        what: &'static str,
        detail: String,
    },
    #[error("{reference}: the registry at {host} refused access (HTTP {status})")]
    Auth {
        reference: String,
        host: String,
        status: u16,
        has_credentials: bool,
    },
    #[error("{reference}: the registry answered HTTP {status}: {detail}")]
    Status {
        reference: String,
        status: u16,
        detail: String,
    },
    #[error(
        "{reference}: the registry at {host} sends token requests to {realm}, plain HTTP, where credentials and tokens would cross the network in clear"
    )]
    InsecureRealm {
        reference: String,
        host: String,
        realm: String,
    },
    #[error(transparent)]
    Reference(#[from] reference::ReferenceError),
    #[error(transparent)]
    Config(#[from] auth::AuthError),
}

impl Classified for RegistryError {
    fn class(&self) -> ExitClass {
        match self {
            RegistryError::Unreachable { .. }
            | RegistryError::GaveUp { .. }
            | RegistryError::Auth { .. }
            | RegistryError::Status { .. }
            | RegistryError::Config(_) => ExitClass::Environment,
            RegistryError::NotFound { .. }
            | RegistryError::Schema1 { .. }
            | RegistryError::DigestMismatch { .. }
            | RegistryError::UnexpectedMediaType { .. }
            | RegistryError::BadDocument { .. }
            | RegistryError::InsecureRealm { .. }
            | RegistryError::Reference(_) => ExitClass::Rejected,
        }
    }

    fn hint(&self) -> Option<String> {
        Some(match self {
            RegistryError::Unreachable { host, .. } | RegistryError::GaveUp { host, .. } => format!(
                "check that the registry {host} is up and reachable from this step (proxy settings, \
NO_PROXY); a plain-HTTP loopback registry needs `lane.registry.insecure: true` with --deploy, \
or --allow-insecure; a slow one a larger --timeout"
            ),
            RegistryError::Auth {
                host,
                has_credentials: false,
                ..
            } => format!(
                "add credentials for {host} to a docker config.json and pass its directory with \
--docker-config DIR (or set DOCKER_CONFIG)"
            ),
            RegistryError::Auth { host, .. } => format!(
                "the credentials for {host} in the docker config were refused: renew them or grant pull access"
            ),
            RegistryError::Schema1 { .. } => {
                "push the image as Docker schema2 or OCI (buildah/skopeo `--format oci` or `v2s2`)".into()
            }
            RegistryError::NotFound { .. } => {
                "push the image first (the build step), or fix the plan's repository and tag".into()
            }
            RegistryError::Config(_) => {
                "fix the docker config file, or point --docker-config at the right directory".into()
            }
            RegistryError::DigestMismatch { .. } => {
                "the registry (or something on the way to it) served content that is not what it named; check for a caching proxy or a broken mirror and push the image again, never record this digest".into()
            }
            RegistryError::UnexpectedMediaType { .. } => {
                "push the image as a Docker schema2 or OCI manifest or index (skopeo/buildah `--format oci` or `v2s2`); lane records only what containerd pulls by digest".into()
            }
            RegistryError::BadDocument { what: "document", .. } => {
                "the registry sent more than a manifest or image config can be; check the registry and what sits in front of it (proxy, mirror)".into()
            }
            RegistryError::BadDocument { .. } => {
                "the registry's answer is not a valid manifest, index or token response; check the image as pushed (skopeo inspect --raw) and the registry".into()
            }
            RegistryError::InsecureRealm { .. } => {
                "configure the registry's token service on https, or, when the whole path is trusted, allow the registry plain HTTP (lane.registry.insecure with --deploy, or --allow-insecure)".into()
            }
            RegistryError::Status { .. } => {
                "the registry refused the request; its message is above (check the repository name and the registry's health)".into()
            }
            RegistryError::Reference(_) => return None,
        })
    }
}

/// Loopback registry hosts (`127.0.0.0/8`, `::1`, `localhost`), port ignored.
pub fn is_loopback_host(host: &str) -> bool {
    let name = host_without_port(host);
    if name.eq_ignore_ascii_case("localhost") {
        return true;
    }
    name.trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<std::net::IpAddr>()
        .is_ok_and(|ip| ip.is_loopback())
}

/// `h:5000` → `h`, `[::1]:5000` → `[::1]`.
pub fn host_without_port(host: &str) -> &str {
    if host.starts_with('[') {
        return host
            .split_once(']')
            .map_or(host, |(h, _)| &host[..h.len() + 1]);
    }
    match host.rsplit_once(':') {
        Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) && !h.contains(':') => h,
        _ => host,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts() {
        for h in [
            "127.0.0.1:5000",
            "127.8.9.1",
            "localhost:5000",
            "[::1]:5000",
            "::1",
        ] {
            assert!(is_loopback_host(h), "{h}");
        }
        for h in [
            "10.0.0.1:5000",
            "registry.local:5000",
            "ghcr.io",
            "localhost.evil.io",
        ] {
            assert!(!is_loopback_host(h), "{h}");
        }
    }

    /// Every registry failure says what to do next (issue 14: digest-mismatch and media-type
    /// errors used to carry none).
    #[test]
    fn every_registry_error_carries_a_hint() {
        let r = || "h:5000/a/b:t".to_string();
        let errors = [
            RegistryError::Unreachable {
                reference: r(),
                host: "h:5000".into(),
                detail: "x".into(),
            },
            RegistryError::GaveUp {
                reference: r(),
                host: "h:5000".into(),
                last: "x".into(),
            },
            RegistryError::NotFound {
                reference: r(),
                what: "x".into(),
            },
            RegistryError::Schema1 {
                reference: r(),
                media_type: media::SCHEMA1.into(),
            },
            RegistryError::DigestMismatch {
                reference: r(),
                header: "a".into(),
                computed: "b".into(),
            },
            RegistryError::UnexpectedMediaType {
                reference: r(),
                media_type: "x/y".into(),
                want: "z",
            },
            RegistryError::BadDocument {
                reference: r(),
                what: "document",
                detail: "x".into(),
            },
            RegistryError::BadDocument {
                reference: r(),
                what: "index",
                detail: "x".into(),
            },
            RegistryError::Auth {
                reference: r(),
                host: "h".into(),
                status: 401,
                has_credentials: true,
            },
            RegistryError::Status {
                reference: r(),
                status: 400,
                detail: "x".into(),
            },
            RegistryError::InsecureRealm {
                reference: r(),
                host: "h".into(),
                realm: "http://t".into(),
            },
        ];
        for e in errors {
            assert!(e.hint().is_some_and(|h| !h.is_empty()), "{e}");
        }
    }

    #[test]
    fn digest_of_empty() {
        assert_eq!(
            crate::digest::Digest::of(b""),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
