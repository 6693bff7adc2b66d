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
use super::{media, RegistryError};
use crate::digest::Digest;
use crate::redact;

/// Largest manifest or config blob read (registries cap manifests at 4 MiB); enforced while
/// the body streams in, so an endless body costs this much memory and no more.
const MAX_DOCUMENT: usize = 8 << 20;
/// Most of an error answer's body read (for its message); the rest is dropped unread.
const MAX_ERROR_BODY: usize = 64 << 10;
/// Shortest time one attempt is given (when the deadline leaves that much).
const MIN_ATTEMPT: Duration = Duration::from_secs(30);

/// One answer, read whole within its attempt: status, headers, and the body (bounded: up to
/// [`MAX_DOCUMENT`] for a success, [`MAX_ERROR_BODY`] for an error, nothing for a HEAD).
struct Fetched {
    status: u16,
    headers: HeaderMap,
    body: Vec<u8>,
}

/// `host:port` of a URL, as messages name a server.
fn host_port(url: &reqwest::Url) -> String {
    match (url.host_str(), url.port_or_known_default()) {
        (Some(h), Some(p)) => format!("{h}:{p}"),
        (Some(h), None) => h.to_string(),
        _ => "-".into(),
    }
}

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
    /// sha256 of the body as served: the digest is computed here, never taken from a header.
    pub digest: Digest,
    pub media_type: String,
    pub body: Vec<u8>,
}

/// What a HEAD by digest confirmed.
#[derive(Debug, Clone)]
pub struct Head {
    pub digest: Digest,
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
        redact::scrub(text, &s)
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
        let resp = self.expect_ok(resp, &reference, "manifest")?;
        let header_digest = header(&resp.headers, "docker-content-digest");
        let content_type = media_type_of(&resp.headers);
        let body = resp.body;
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
        let computed = Digest::of(&body);
        for claimed in header_digest
            .iter()
            .map(String::as_str)
            .chain(match &r.target {
                Target::Digest(d) => Some(d.as_str()),
                Target::Tag(_) => None,
            })
        {
            if claimed != computed.as_str() {
                return Err(RegistryError::DigestMismatch {
                    reference,
                    header: claimed.to_string(),
                    computed: computed.to_string(),
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
        digest: &Digest,
    ) -> Result<Option<Head>, RegistryError> {
        let r = Reference::by_digest(repo.clone(), digest.clone());
        let reference = r.to_string();
        let url = format!("{}/manifests/{digest}", self.base_url(repo));
        let resp = self
            .request(Method::HEAD, repo, &url, Some(media::ACCEPT), &reference)
            .await?;
        if resp.status == 404 {
            return Ok(None);
        }
        let resp = self.expect_ok(resp, &reference, "manifest")?;
        let media_type = media_type_of(&resp.headers).unwrap_or_default();
        if media::is_schema1(&media_type) {
            return Err(RegistryError::Schema1 {
                reference,
                media_type,
            });
        }
        if let Some(h) = header(&resp.headers, "docker-content-digest") {
            if h != *digest {
                return Err(RegistryError::DigestMismatch {
                    reference,
                    header: h,
                    computed: digest.to_string(),
                });
            }
        }
        Ok(Some(Head {
            digest: digest.clone(),
            media_type,
        }))
    }

    /// GET a blob (an image config), verified against its digest.
    pub async fn get_blob(
        &self,
        repo: &Repository,
        digest: &Digest,
    ) -> Result<Vec<u8>, RegistryError> {
        let r = Reference::by_digest(repo.clone(), digest.clone());
        let reference = r.to_string();
        let url = format!("{}/blobs/{digest}", self.base_url(repo));
        let resp = self
            .request(Method::GET, repo, &url, None, &reference)
            .await?;
        let body = self.expect_ok(resp, &reference, "blob")?.body;
        let computed = Digest::of(&body);
        if computed != *digest {
            return Err(RegistryError::DigestMismatch {
                reference,
                header: digest.to_string(),
                computed: computed.to_string(),
            });
        }
        Ok(body)
    }

    fn expect_ok(
        &self,
        resp: Fetched,
        reference: &str,
        what: &str,
    ) -> Result<Fetched, RegistryError> {
        let status = resp.status;
        if (200..300).contains(&status) {
            return Ok(resp);
        }
        let body = String::from_utf8_lossy(&resp.body);
        if status == 404 {
            return Err(RegistryError::NotFound {
                reference: reference.to_string(),
                what: self.scrub(&format!("no such {what}{}", registry_errors(&body))),
            });
        }
        Err(RegistryError::Status {
            reference: reference.to_string(),
            status,
            detail: self.scrub(&format!("{what}{}", registry_errors(&body))),
        })
    }

    /// Read the body as it streams in, never holding more than `limit` bytes: past it a
    /// document is refused (`Err(bytes seen)`), an error message keeps its first `limit` bytes
    /// (`truncate`).
    async fn read_bounded(
        mut resp: Response,
        limit: usize,
        truncate: bool,
    ) -> Result<Result<Vec<u8>, usize>, reqwest::Error> {
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await? {
            if body.len() + chunk.len() > limit {
                if truncate {
                    body.extend_from_slice(&chunk[..limit - body.len()]);
                    return Ok(Ok(body));
                }
                return Ok(Err(body.len() + chunk.len()));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Ok(body))
    }

    /// One registry request: cached auth, one challenge round on 401, retries.
    async fn request(
        &self,
        method: Method,
        repo: &Repository,
        url: &str,
        accept: Option<&str>,
        reference: &str,
    ) -> Result<Fetched, RegistryError> {
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
            let resp = self.send_retrying(make, reference).await?;
            let status = resp.status;
            if status == 401 && !challenged {
                challenged = true;
                let header = header(&resp.headers, WWW_AUTHENTICATE.as_str()).unwrap_or_default();
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
                        detail: format!(
                            "the token realm `{}` is not a URL",
                            redact::redact_url_userinfo(&realm)
                        ),
                    })?;
                // Credentials go to the realm in the clear when it is plain HTTP: only as
                // acceptable as plain HTTP to the registry itself.
                let registry_plain = self.base_url(repo).starts_with("http://");
                let realm_ok = match url.scheme() {
                    "https" => true,
                    "http" => registry_plain,
                    _ => false,
                };
                if !realm_ok {
                    return Err(RegistryError::InsecureRealm {
                        reference: reference.to_string(),
                        host: repo.host.clone(),
                        realm: redact::redact_url_userinfo(&realm).into_owned(),
                    });
                }
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
                let token_host = host_port(&url);
                let resp = self.send_retrying(make, reference).await?;
                if !(200..300).contains(&resp.status) {
                    return Err(RegistryError::Auth {
                        reference: reference.to_string(),
                        host: repo.host.clone(),
                        status: resp.status,
                        has_credentials: creds.is_some(),
                    });
                }
                let body: serde_json::Value =
                    serde_json::from_slice(&resp.body).map_err(|_| RegistryError::BadDocument {
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

    /// Time for attempt `attempt` (from 1): half of what is left of the deadline, at least
    /// [`MIN_ATTEMPT`] (when that much is left), so a slow registry gets the time `--timeout`
    /// grants instead of a fixed per-request limit, and a hung one still leaves room to retry.
    fn attempt_time(&self, attempt: u32) -> Duration {
        let remaining = self.policy.remaining();
        let share = if attempt >= self.policy.max_attempts {
            remaining
        } else {
            remaining / 2
        };
        share.max(MIN_ATTEMPT).min(remaining)
    }

    /// One attempt: send, then read the body whole within the attempt's time (bounded).
    /// `Err` is a transport failure worth retrying, in words naming what happened.
    async fn attempt(
        &self,
        rb: RequestBuilder,
        time: Duration,
        reference: &str,
    ) -> Result<Result<Fetched, String>, RegistryError> {
        let started = std::time::Instant::now();
        let resp = match rb.timeout(time).send().await {
            Ok(r) => r,
            Err(e) => {
                let what = if e.is_timeout() {
                    format!("no answer within {} s", time.as_secs())
                } else {
                    self.scrub(&crate::error::chain(&e))
                };
                let transient = e.is_connect() || e.is_timeout() || e.is_request() || e.is_body();
                return if transient {
                    Ok(Err(what))
                } else {
                    Err(RegistryError::Unreachable {
                        reference: reference.to_string(),
                        host: e.url().map(host_port).unwrap_or_else(|| "-".into()),
                        detail: what,
                    })
                };
            }
        };
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let host = host_port(resp.url());
        if retryable_status(status) {
            return Ok(Ok(Fetched {
                status,
                headers,
                body: Vec::new(),
            }));
        }
        let success = (200..300).contains(&status);
        let declared = header(&headers, CONTENT_LENGTH.as_str()).and_then(|v| v.parse().ok());
        if success {
            if let Some(n) = declared.filter(|n: &usize| *n > MAX_DOCUMENT) {
                return Err(self.too_big(reference, &host, n, true));
            }
        }
        let (limit, truncate) = if success {
            (MAX_DOCUMENT, false)
        } else {
            (MAX_ERROR_BODY, true)
        };
        match Self::read_bounded(resp, limit, truncate).await {
            Ok(Ok(body)) => Ok(Ok(Fetched {
                status,
                headers,
                body,
            })),
            Ok(Err(n)) => Err(self.too_big(reference, &host, n, false)),
            Err(e) => {
                let cut = if e.is_timeout() {
                    format!(
                        "the body was still arriving after {} s (a dripping answer)",
                        started.elapsed().as_secs()
                    )
                } else {
                    format!(
                        "the body was cut off{} ({})",
                        declared
                            .map(|n| format!(" before its {n} bytes"))
                            .unwrap_or_default(),
                        self.scrub(&crate::error::chain(&e))
                    )
                };
                Ok(Err(format!("{host}: HTTP {status}: {cut}")))
            }
        }
    }

    fn too_big(&self, reference: &str, host: &str, n: usize, declared: bool) -> RegistryError {
        RegistryError::BadDocument {
            reference: reference.to_string(),
            what: "document",
            detail: format!(
                "{host} {} more than the {MAX_DOCUMENT}-byte limit ({}); lane stopped reading",
                if declared { "announced" } else { "sent" },
                if declared {
                    format!("Content-Length {n}")
                } else {
                    format!("{n} bytes so far")
                }
            ),
        }
    }

    /// Send and read the answer, retrying connection errors, timeouts, cut-off or dripping
    /// bodies, 429 and 5xx with backoff, all within the deadline.
    async fn send_retrying(
        &self,
        make: impl Fn() -> RequestBuilder,
        reference: &str,
    ) -> Result<Fetched, RegistryError> {
        let mut attempt = 0;
        let host = make()
            .build()
            .map(|r| host_port(r.url()))
            .unwrap_or_else(|_| "-".into());
        loop {
            attempt += 1;
            if self.policy.remaining().is_zero() {
                return Err(RegistryError::GaveUp {
                    reference: reference.to_string(),
                    host: host.clone(),
                    last: "the --timeout deadline passed".into(),
                });
            }
            let last_try = attempt >= self.policy.max_attempts;
            let time = self.attempt_time(attempt);
            let (retry_after, last, transport) = match self.attempt(make(), time, reference).await?
            {
                Ok(resp) if retryable_status(resp.status) => {
                    let after = header(&resp.headers, RETRY_AFTER.as_str())
                        .and_then(|v| parse_retry_after(&v));
                    if last_try {
                        return Err(RegistryError::GaveUp {
                            reference: reference.to_string(),
                            host: host.clone(),
                            last: format!("HTTP {} after {attempt} attempts", resp.status),
                        });
                    }
                    (after, format!("HTTP {}", resp.status), false)
                }
                Ok(resp) => return Ok(resp),
                Err(what) => {
                    if last_try {
                        return Err(RegistryError::Unreachable {
                            reference: reference.to_string(),
                            host: host.clone(),
                            detail: format!("{what} (after {attempt} attempts)"),
                        });
                    }
                    (None, what, true)
                }
            };
            let delay = self.policy.delay(attempt, retry_after);
            if !self.policy.fits(delay) && transport {
                // Never got a whole answer: the registry is not usable at all.
                return Err(RegistryError::Unreachable {
                    reference: reference.to_string(),
                    host: host.clone(),
                    detail: format!("{last} after {attempt} attempts; the --timeout deadline leaves no time to retry"),
                });
            }
            if !self.policy.fits(delay) {
                return Err(RegistryError::GaveUp {
                    reference: reference.to_string(),
                    host: host.clone(),
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
