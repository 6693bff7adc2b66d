//! Registry credentials from the docker `config.json` and the `WWW-Authenticate` challenge.
//!
//! Looked up in `--docker-config DIR`, else `$DOCKER_CONFIG`, else `~/.docker`. A directory
//! may hold `config.json` (docker), or `.dockerconfigjson` / `.dockercfg` (a Kubernetes
//! docker-registry Secret mounted as Tekton's docker credential workspace).

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::reference::DOCKER_HUB;

/// A username/password pair. Never printed: `Debug` redacts the password.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Credentials({}, ***)", self.username)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("cannot read docker config {file}: {source}")]
    Read {
        file: String,
        source: std::io::Error,
    },
    #[error("docker config {file} is not valid: {reason}")]
    Invalid { file: String, reason: String },
    #[error("no docker config in {dir}: expected config.json, .dockerconfigjson or .dockercfg")]
    Missing { dir: String },
}

/// Credentials per registry host, from one docker config file.
#[derive(Debug, Clone, Default)]
pub struct CredentialStore {
    by_host: BTreeMap<String, Credentials>,
    /// The file they came from (for messages), when any.
    pub source: Option<PathBuf>,
}

#[derive(Deserialize)]
struct ConfigFile {
    #[serde(default)]
    auths: BTreeMap<String, AuthEntry>,
}

#[derive(Deserialize)]
struct AuthEntry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
}

const FILES: [&str; 3] = ["config.json", ".dockerconfigjson", ".dockercfg"];

impl CredentialStore {
    /// Load from `dir` (explicit: a missing file is an error), else `DOCKER_CONFIG`, else
    /// `~/.docker` (implicit: no file means no credentials).
    pub fn load(dir: Option<&Path>) -> Result<CredentialStore, AuthError> {
        if let Some(d) = dir {
            return match find_file(d) {
                Some(f) => CredentialStore::from_file(&f),
                None => Err(AuthError::Missing {
                    dir: d.display().to_string(),
                }),
            };
        }
        let dir = std::env::var_os("DOCKER_CONFIG")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".docker")));
        match dir.as_deref().and_then(find_file) {
            Some(f) => CredentialStore::from_file(&f),
            None => Ok(CredentialStore::default()),
        }
    }

    pub fn from_file(path: &Path) -> Result<CredentialStore, AuthError> {
        let file = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|source| AuthError::Read {
            file: file.clone(),
            source,
        })?;
        let legacy = path.file_name().is_some_and(|n| n == ".dockercfg");
        let mut store =
            CredentialStore::parse(&bytes, legacy).map_err(|reason| AuthError::Invalid {
                file: file.clone(),
                reason,
            })?;
        store.source = Some(path.to_path_buf());
        Ok(store)
    }

    /// Parse a config (`{"auths": {...}}`, or the legacy `.dockercfg` map of hosts).
    pub fn parse(bytes: &[u8], legacy: bool) -> Result<CredentialStore, String> {
        // Never echo serde's message: it may quote a credential.
        let auths: BTreeMap<String, AuthEntry> = if legacy {
            serde_json::from_slice(bytes)
                .map_err(|e| format!("not a JSON map of registries (line {})", e.line()))?
        } else {
            serde_json::from_slice::<ConfigFile>(bytes)
                .map_err(|e| format!("not a JSON object with `auths` (line {})", e.line()))?
                .auths
        };
        let mut by_host = BTreeMap::new();
        for (key, entry) in auths {
            let creds = match (&entry.auth, &entry.username, &entry.password) {
                (Some(a), _, _) if !a.is_empty() => {
                    let raw = base64_decode(a.trim()).ok_or_else(|| {
                        format!("auths.{key}.auth is not base64 of `user:password`")
                    })?;
                    let s = String::from_utf8(raw)
                        .map_err(|_| format!("auths.{key}.auth is not UTF-8"))?;
                    let (u, p) = s.split_once(':').ok_or_else(|| {
                        format!("auths.{key}.auth does not decode to `user:password`")
                    })?;
                    Credentials {
                        username: u.to_string(),
                        password: p.to_string(),
                    }
                }
                (_, Some(u), Some(p)) => Credentials {
                    username: u.clone(),
                    password: p.clone(),
                },
                // Entries without secrets (credsStore/credHelpers users) are skipped.
                _ => continue,
            };
            by_host.insert(normalize_host(&key), creds);
        }
        Ok(CredentialStore {
            by_host,
            source: None,
        })
    }

    /// Credentials for a registry host as written in the reference (`docker.io`, `h:5000`).
    pub fn get(&self, host: &str) -> Option<&Credentials> {
        self.by_host.get(&normalize_host(host))
    }

    /// Every password, for scrubbing text that might echo one.
    pub fn secrets(&self) -> Vec<String> {
        let mut v = Vec::new();
        for c in self.by_host.values() {
            v.push(c.password.clone());
            v.push(base64_encode(
                format!("{}:{}", c.username, c.password).as_bytes(),
            ));
        }
        v
    }
}

fn find_file(dir: &Path) -> Option<PathBuf> {
    FILES.iter().map(|f| dir.join(f)).find(|p| p.is_file())
}

/// `https://index.docker.io/v1/` → `docker.io`; `http://h:5000/` → `h:5000`.
fn normalize_host(key: &str) -> String {
    let k = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    let host = k.split('/').next().unwrap_or(k).to_ascii_lowercase();
    match host.as_str() {
        "index.docker.io" | "registry-1.docker.io" | "registry.hub.docker.com" => DOCKER_HUB.into(),
        _ => host,
    }
}

/// A parsed `WWW-Authenticate` challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    Basic,
    Bearer {
        realm: String,
        service: Option<String>,
        scope: Option<String>,
    },
}

impl Challenge {
    pub fn parse(header: &str) -> Option<Challenge> {
        let header = header.trim();
        let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
        match scheme.to_ascii_lowercase().as_str() {
            "basic" => Some(Challenge::Basic),
            "bearer" => {
                let params = parse_params(rest);
                let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
                Some(Challenge::Bearer {
                    realm: get("realm")?,
                    service: get("service"),
                    scope: get("scope"),
                })
            }
            _ => None,
        }
    }
}

/// `a="x,y",b=z` → [(a, x,y), (b, z)]; quoted values may hold commas.
fn parse_params(s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let mut name = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' {
                break;
            }
            name.push(c);
            chars.next();
        }
        if chars.next().is_none() {
            break;
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => value.extend(chars.next()),
                    '"' => break,
                    c => value.push(c),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == ',' {
                    break;
                }
                value.push(c);
                chars.next();
            }
        }
        out.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
    }
    out
}

pub use crate::encoding::{base64_decode, base64_encode};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trip() {
        for s in ["", "a", "ab", "abc", "user:p@ss:w0rd!"] {
            assert_eq!(
                base64_decode(&base64_encode(s.as_bytes())).unwrap(),
                s.as_bytes()
            );
        }
        assert_eq!(base64_encode(b"lane:secret"), "bGFuZTpzZWNyZXQ=");
    }

    #[test]
    fn reads_auth_and_username_forms() {
        let cfg = br#"{"auths":{
            "https://index.docker.io/v1/":{"auth":"bGFuZTpzZWNyZXQ="},
            "http://127.0.0.1:5000":{"username":"u","password":"p:w"},
            "ghcr.io":{}
        },"credsStore":"desktop"}"#;
        let s = CredentialStore::parse(cfg, false).unwrap();
        assert_eq!(s.get("docker.io").unwrap().password, "secret");
        assert_eq!(s.get("127.0.0.1:5000").unwrap().password, "p:w");
        assert!(s.get("ghcr.io").is_none());
        assert!(!format!("{:?}", s).contains("secret"));
    }

    #[test]
    fn legacy_dockercfg_and_bad_auth() {
        let s = CredentialStore::parse(br#"{"h.io":{"auth":"bGFuZTpzZWNyZXQ="}}"#, true).unwrap();
        assert_eq!(s.get("h.io").unwrap().username, "lane");
        let e = CredentialStore::parse(br#"{"auths":{"h.io":{"auth":"!!"}}}"#, false).unwrap_err();
        assert!(e.contains("auths.h.io.auth"), "{e}");
    }

    #[test]
    fn parses_challenges() {
        let c = Challenge::parse(
            r#"Bearer realm="https://auth.example/token",service="reg,istry",scope="repository:a/b:pull""#,
        )
        .unwrap();
        assert_eq!(
            c,
            Challenge::Bearer {
                realm: "https://auth.example/token".into(),
                service: Some("reg,istry".into()),
                scope: Some("repository:a/b:pull".into()),
            }
        );
        assert_eq!(
            Challenge::parse(r#"Basic realm="x""#),
            Some(Challenge::Basic)
        );
        assert_eq!(Challenge::parse("Negotiate"), None);
    }
}
