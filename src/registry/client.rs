//! The registry client: one connection-reusing `reqwest` client, auth negotiated once per
//! repository and cached, every request retried within the shared deadline.

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;
use std::time::Duration;

use reqwest::header::{
    HeaderMap, ACCEPT, AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE,
};
use reqwest::{Method, RequestBuilder, Response};
use tokio::time::Instant;

use super::auth::{base64_encode, Challenge, CredentialStore};
use super::reference::{Reference, Repository, Target};
use super::retry::{parse_retry_after, retryable_status, RetryPolicy};
use super::{media, sha256_digest, RegistryError};
use crate::model::secrets;

/// Largest manifest or config blob read (registries cap manifests at 4 MiB).
const MAX_DOCUMENT: usize = 8 << 20;
/// Longest single request; the total deadline still applies.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Which hosts may be spoken to in plain HTTP.
#[derive(Debug, Clone, Default)]
pub enum PlainHttp {
    /// HTTPS everywhere.
    #[default]
    Never,
    /// These hosts (as written in references, port included).
    Hosts(BTreeSet<String>),
    /// Every host (`--allow-insecure`).
    Any,
}

#[derive(Debug, Clone)]
pub struct ClientConfig {
    pub credentials: CredentialStore,
    pub plain_http: PlainHttp,
    pub deadline: Instant,
    /// Idle connections kept per host (the concurrency).
    pub pool: usize,
}

/// A manifest as the registry served it, digest verified.
#[derive(Debug, Clone)]
pub struct Manifest {
    pub digest: String,
    pub media_type: String,
    pub body: Vec<u8>,
}

/// What a HEAD by digest confirmed.
#[derive(Debug, Clone)]
pub struct Head {
    pub digest: String,
    pub media_type: String,
}

pub struct Client {
    http: reqwest::Client,
    creds: CredentialStore,
    plain: PlainHttp,
    policy: RetryPolicy,
    /// `Authorization` value per `host/path` once negotiated.
    auth: Mutex<HashMap<String, String>>,
    secrets: Vec<String>,
}

impl Client {
    pub fn new(cfg: ClientConfig) -> Result<Client, RegistryError> {
        // Installed once per process; a second install is refused and harmless.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .user_agent(concat!("lane/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(10))
            .pool_max_idle_per_host(cfg.pool.max(1))
            .build()
            .map_err(|e| RegistryError::Unreachable {
                reference: "registry client".into(),
                host: "-".into(),
                detail: crate::error::chain(&e),
            })?;
        let secrets = cfg.credentials.secrets();
        Ok(Client {
            http,
            creds: cfg.credentials,
            plain: cfg.plain_http,
            policy: RetryPolicy::new(cfg.deadline),
            auth: Mutex::new(HashMap::new()),
            secrets,
        })
    }

    fn scrub(&self, text: &str) -> String {
        let s: Vec<&str> = self.secrets.iter().map(String::as_str).collect();
        secrets::scrub(text, &s)
    }

    fn base_url(&self, repo: &Repository) -> String {
        let plain = match &self.plain {
            PlainHttp::Never => false,
            PlainHttp::Any => true,
            PlainHttp::Hosts(h) => h.contains(&repo.host),
        };
        let scheme = if plain { "http" } else { "https" };
        format!("{scheme}://{}/v2/{}", repo.api_host(), repo.path)
    }

    /// GET a manifest with the schema2/OCI `Accept`; verify its digest; refuse schema1.
    pub async fn get_manifest(&self, r: &Reference) -> Result<Manifest, RegistryError> {
        let reference = r.to_string();
        let url = format!(
            "{}/manifests/{}",
            self.base_url(&r.repository),
            r.target.as_str()
        );
        let resp = self
            .request(
                Method::GET,
                &r.repository,
                &url,
                Some(media::ACCEPT),
                &reference,
            )
            .await?;
        let resp = self.expect_ok(resp, &reference, "manifest").await?;
        let header_digest = header(resp.headers(), "docker-content-digest");
        let content_type = media_type_of(resp.headers());
        let body = self.read_body(resp, &reference).await?;
        let body_type = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| {
                if v["schemaVersion"] == 1 {
                    Some(media::SCHEMA1.to_string())
                } else {
                    v["mediaType"].as_str().map(str::to_string)
                }
            });
        let media_type = match (content_type, body_type) {
            (Some(c), _) if media::is_schema1(&c) => c,
            (_, Some(b)) if media::is_schema1(&b) => b,
            (Some(c), _) if media::is_image(&c) || media::is_index(&c) => c,
            (_, Some(b)) => b,
            (Some(c), None) => c,
            (None, None) => String::new(),
        };
        if media::is_schema1(&media_type) {
            return Err(RegistryError::Schema1 {
                reference,
                media_type,
            });
        }
        if !media::is_image(&media_type) && !media::is_index(&media_type) {
            return Err(RegistryError::UnexpectedMediaType {
                reference,
                media_type,
                want: "a Docker schema2 or OCI manifest, list or index",
            });
        }
        let computed = sha256_digest(&body);
        for claimed in header_digest.iter().chain(match &r.target {
            Target::Digest(d) => Some(d),
            Target::Tag(_) => None,
        }) {
            if *claimed != computed {
                return Err(RegistryError::DigestMismatch {
                    reference,
                    header: claimed.clone(),
                    computed,
                });
            }
        }
        Ok(Manifest {
            digest: computed,
            media_type,
            body,
        })
    }

    /// HEAD a manifest by digest with the same `Accept`: `None` when the registry lacks it.
    pub async fn head_manifest(
        &self,
        repo: &Repository,
        digest: &str,
    ) -> Result<Option<Head>, RegistryError> {
        let r = Reference::new(repo.clone(), Target::Digest(digest.to_string()))?;
        let reference = r.to_string();
        let url = format!("{}/manifests/{digest}", self.base_url(repo));
        let resp = self
            .request(Method::HEAD, repo, &url, Some(media::ACCEPT), &reference)
            .await?;
        if resp.status().as_u16() == 404 {
            return Ok(None);
        }
        let resp = self.expect_ok(resp, &reference, "manifest").await?;
        let media_type = media_type_of(resp.headers()).unwrap_or_default();
        if media::is_schema1(&media_type) {
            return Err(RegistryError::Schema1 {
                reference,
                media_type,
            });
        }
        if let Some(h) = header(resp.headers(), "docker-content-digest") {
            if h != digest {
                return Err(RegistryError::DigestMismatch {
                    reference,
                    header: h,
                    computed: digest.to_string(),
                });
            }
        }
        Ok(Some(Head {
            digest: digest.to_string(),
            media_type,
        }))
    }

    /// GET a blob (an image config), verified against its digest.
    pub async fn get_blob(
        &self,
        repo: &Repository,
        digest: &str,
    ) -> Result<Vec<u8>, RegistryError> {
        let r = Reference::new(repo.clone(), Target::Digest(digest.to_string()))?;
        let reference = r.to_string();
        let url = format!("{}/blobs/{digest}", self.base_url(repo));
        let resp = self
            .request(Method::GET, repo, &url, None, &reference)
            .await?;
        let resp = self.expect_ok(resp, &reference, "blob").await?;
        let body = self.read_body(resp, &reference).await?;
        let computed = sha256_digest(&body);
        if computed != digest {
            return Err(RegistryError::DigestMismatch {
                reference,
                header: digest.to_string(),
                computed,
            });
        }
        Ok(body)
    }

    async fn expect_ok(
        &self,
        resp: Response,
        reference: &str,
        what: &str,
    ) -> Result<Response, RegistryError> {
        let status = resp.status().as_u16();
        if resp.status().is_success() {
            return Ok(resp);
        }
        let body = resp.text().await.unwrap_or_default();
        if status == 404 {
            return Err(RegistryError::NotFound {
                reference: reference.to_string(),
                what: format!("no such {what}{}", registry_errors(&body)),
            });
        }
        Err(RegistryError::Status {
            reference: reference.to_string(),
            status,
            detail: self.scrub(&format!("{what}{}", registry_errors(&body))),
        })
    }

    async fn read_body(&self, resp: Response, reference: &str) -> Result<Vec<u8>, RegistryError> {
        let too_big = |n: usize| RegistryError::BadDocument {
            reference: reference.to_string(),
            what: "document",
            detail: format!("{n} bytes is more than the {MAX_DOCUMENT}-byte limit"),
        };
        if let Some(n) =
            header(resp.headers(), CONTENT_LENGTH.as_str()).and_then(|v| v.parse().ok())
        {
            if n > MAX_DOCUMENT {
                return Err(too_big(n));
            }
        }
        let host = resp.url().host_str().unwrap_or("-").to_string();
        let body = resp.bytes().await.map_err(|e| RegistryError::Unreachable {
            reference: reference.to_string(),
            host,
            detail: self.scrub(&crate::error::chain(&e)),
        })?;
        if body.len() > MAX_DOCUMENT {
            return Err(too_big(body.len()));
        }
        Ok(body.to_vec())
    }

    /// One registry request: cached auth, one challenge round on 401, retries.
    async fn request(
        &self,
        method: Method,
        repo: &Repository,
        url: &str,
        accept: Option<&str>,
        reference: &str,
    ) -> Result<Response, RegistryError> {
        let key = repo.to_string();
        let mut auth = self.auth.lock().expect("auth cache").get(&key).cloned();
        let mut challenged = false;
        loop {
            let make = || {
                let mut rb = self.http.request(method.clone(), url);
                if let Some(a) = accept {
                    rb = rb.header(ACCEPT, a);
                }
                if let Some(a) = &auth {
                    rb = rb.header(AUTHORIZATION, a);
                }
                rb
            };
            let resp = self.send_retrying(make, repo.api_host(), reference).await?;
            let status = resp.status().as_u16();
            if status == 401 && !challenged {
                challenged = true;
                let header = header(resp.headers(), WWW_AUTHENTICATE.as_str()).unwrap_or_default();
                let value = self.authorize(repo, &header, reference).await?;
                self.auth
                    .lock()
                    .expect("auth cache")
                    .insert(key.clone(), value.clone());
                auth = Some(value);
                continue;
            }
            if status == 401 || status == 403 {
                return Err(RegistryError::Auth {
                    reference: reference.to_string(),
                    host: repo.host.clone(),
                    status,
                    has_credentials: self.creds.get(&repo.host).is_some(),
                });
            }
            return Ok(resp);
        }
    }

    /// Answer a challenge: basic credentials, or a bearer token for `repository:<path>:pull`.
    async fn authorize(
        &self,
        repo: &Repository,
        challenge: &str,
        reference: &str,
    ) -> Result<String, RegistryError> {
        let creds = self.creds.get(&repo.host);
        let refused = || RegistryError::Auth {
            reference: reference.to_string(),
            host: repo.host.clone(),
            status: 401,
            has_credentials: creds.is_some(),
        };
        match Challenge::parse(challenge) {
            Some(Challenge::Basic) => {
                let c = creds.ok_or_else(refused)?;
                Ok(format!(
                    "Basic {}",
                    base64_encode(format!("{}:{}", c.username, c.password).as_bytes())
                ))
            }
            Some(Challenge::Bearer { realm, service, .. }) => {
                let mut url =
                    reqwest::Url::parse(&realm).map_err(|_| RegistryError::BadDocument {
                        reference: reference.to_string(),
                        what: "auth challenge",
                        detail: format!("the token realm `{realm}` is not a URL"),
                    })?;
                url.query_pairs_mut()
                    .append_pair("scope", &format!("repository:{}:pull", repo.path));
                if let Some(s) = &service {
                    url.query_pairs_mut().append_pair("service", s);
                }
                let make = || {
                    let rb = self.http.get(url.clone());
                    match creds {
                        Some(c) => rb.basic_auth(&c.username, Some(&c.password)),
                        None => rb,
                    }
                };
                let token_host = url.host_str().unwrap_or("-").to_string();
                let resp = self.send_retrying(make, &token_host, reference).await?;
                if !resp.status().is_success() {
                    return Err(RegistryError::Auth {
                        reference: reference.to_string(),
                        host: repo.host.clone(),
                        status: resp.status().as_u16(),
                        has_credentials: creds.is_some(),
                    });
                }
                let bytes = self.read_body(resp, reference).await?;
                let body: serde_json::Value =
                    serde_json::from_slice(&bytes).map_err(|_| RegistryError::BadDocument {
                        reference: reference.to_string(),
                        what: "token response",
                        detail: format!("the token service {token_host} did not answer JSON"),
                    })?;
                let token = body["token"]
                    .as_str()
                    .or_else(|| body["access_token"].as_str())
                    .ok_or_else(|| RegistryError::BadDocument {
                        reference: reference.to_string(),
                        what: "token response",
                        detail: format!("the token service {token_host} answered without `token`"),
                    })?;
                Ok(format!("Bearer {token}"))
            }
            None => Err(refused()),
        }
    }

    /// Send, retrying connection errors, timeouts, 429 and 5xx with backoff within the deadline.
    async fn send_retrying(
        &self,
        make: impl Fn() -> RequestBuilder,
        host: &str,
        reference: &str,
    ) -> Result<Response, RegistryError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let remaining = self.policy.remaining();
            if remaining.is_zero() {
                return Err(RegistryError::GaveUp {
                    reference: reference.to_string(),
                    host: host.to_string(),
                    last: "the --timeout deadline passed".into(),
                });
            }
            let last_try = attempt >= self.policy.max_attempts;
            let (retry_after, last, transport) =
                match make().timeout(REQUEST_TIMEOUT.min(remaining)).send().await {
                    Ok(resp) if retryable_status(resp.status().as_u16()) => {
                        let after = header(resp.headers(), RETRY_AFTER.as_str())
                            .and_then(|v| parse_retry_after(&v));
                        if last_try {
                            return Err(RegistryError::GaveUp {
                                reference: reference.to_string(),
                                host: host.to_string(),
                                last: format!(
                                    "HTTP {} after {attempt} attempts",
                                    resp.status().as_u16()
                                ),
                            });
                        }
                        (after, format!("HTTP {}", resp.status().as_u16()), false)
                    }
                    Ok(resp) => return Ok(resp),
                    Err(e) => {
                        let detail = self.scrub(&crate::error::chain(&e));
                        let transient =
                            e.is_connect() || e.is_timeout() || e.is_request() || e.is_body();
                        if !transient || last_try {
                            return Err(RegistryError::Unreachable {
                                reference: reference.to_string(),
                                host: host.to_string(),
                                detail: format!("{detail} (after {attempt} attempts)"),
                            });
                        }
                        (None, detail, true)
                    }
                };
            let delay = self.policy.delay(attempt, retry_after);
            if !self.policy.fits(delay) && transport {
                // Never got an HTTP answer: the registry is not reachable at all.
                return Err(RegistryError::Unreachable {
                    reference: reference.to_string(),
                    host: host.to_string(),
                    detail: format!("{last} after {attempt} attempts; the --timeout deadline leaves no time to retry"),
                });
            }
            if !self.policy.fits(delay) {
                return Err(RegistryError::GaveUp {
                    reference: reference.to_string(),
                    host: host.to_string(),
                    last: format!("{last} after {attempt} attempts; the --timeout deadline leaves no time to retry"),
                });
            }
            crate::output::progress(format!(
                "publish: {reference}: {last}; retrying in {} ms",
                delay.as_millis()
            ));
            tokio::time::sleep(delay).await;
        }
    }
}

fn header(h: &HeaderMap, name: &str) -> Option<String> {
    h.get(name)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.trim().to_string())
}

fn media_type_of(h: &HeaderMap) -> Option<String> {
    header(h, CONTENT_TYPE.as_str()).map(|c| c.split(';').next().unwrap_or("").trim().to_string())
}

/// `: CODE message; …` from a distribution error body, or nothing.
fn registry_errors(body: &str) -> String {
    let v: serde_json::Value = match serde_json::from_str(body) {
        Ok(v) => v,
        Err(_) => return String::new(),
    };
    let msgs: Vec<String> = v["errors"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|e| {
                    format!(
                        "{} {}",
                        e["code"].as_str().unwrap_or("?"),
                        e["message"].as_str().unwrap_or("")
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    if msgs.is_empty() {
        String::new()
    } else {
        format!(": {}", msgs.join("; "))
    }
}
