//! A small client for the Kubernetes API and the Argo CD and Tekton custom resources it
//! serves. `verify` observes: every request is a GET, except the one merge patch that asks
//! Argo CD to refresh the lane's Application (docs/verify.md, `--wait`).
//!
//! Answers are untrusted: each is read to at most [`MAX_BODY`] bytes, lists are read in pages,
//! and a 403 becomes [`KubeError::Forbidden`] naming the verb, resource and namespace so that
//! `verify` can report it as a failed check instead of giving up.

pub mod args;
pub mod config;
pub mod exec;

use std::sync::{Arc, Once};
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::Value;

pub use config::{Config, Credentials, Source};

use crate::error::{Classified, ExitClass};
use crate::redact;

/// Bytes read from one response at most. Lists are paged ([`LIST_PAGE`]) so that no single
/// answer needs more.
const MAX_BODY: usize = 16 * 1024 * 1024;

/// Objects asked for per list page: 100 PipelineRuns of ~6 KB are ~600 KB. A page over
/// [`MAX_BODY`] is asked for again in quarters (objects can be up to etcd's 1.5 MiB).
pub const LIST_PAGE: usize = 100;

/// Pages read from one list at most (100,000 objects at full pages): a hostile or looping
/// `continue` token must not keep lane reading forever.
const MAX_PAGES: usize = 1000;

/// How long a 429/5xx is retried without `--wait` (with it: until the wait deadline).
pub const DEFAULT_RETRY_BUDGET: Duration = Duration::from_secs(5);

/// First pause between retries of a 5xx without `Retry-After`; doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// What a request asked the API server for, in the terms of RBAC (verb, API group, resource,
/// namespace, name), derived from its method and path.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Access {
    pub verb: String,
    pub group: String,
    /// `pods`, or `services/proxy` with the subresource.
    pub resource: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl Access {
    /// RBAC attributes of `method path` (the API server's own request-info rules for
    /// `/api/v1/...` and `/apis/<group>/<version>/...`).
    pub fn of(method: &str, path: &str) -> Access {
        let path = path.split('?').next().unwrap_or(path);
        let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
        let (group, rest) = match parts.as_slice() {
            ["api", _version, rest @ ..] => (String::new(), rest),
            ["apis", group, _version, rest @ ..] => (group.to_string(), rest),
            _ => (String::new(), &parts[..0]),
        };
        let (mut namespace, rest): (Option<String>, &[&str]) = match rest {
            ["namespaces", ns, rest @ ..] if !rest.is_empty() => (Some(ns.to_string()), rest),
            _ => (None, rest),
        };
        let (resource, name, sub) = match rest {
            [] => (String::new(), None, None),
            [r] => (r.to_string(), None, None),
            [r, n] => (r.to_string(), Some(n.to_string()), None),
            [r, n, s, ..] => (r.to_string(), Some(n.to_string()), Some(s.to_string())),
        };
        // `GET /api/v1/namespaces/x` is a get of namespace x *in* namespace x, as the API
        // server's request info has it.
        if resource == "namespaces" && namespace.is_none() {
            namespace = name.clone();
        }
        let verb = match (method, &name) {
            ("GET", None) => "list",
            ("GET", Some(_)) => "get",
            (m, _) => {
                return Access::new(
                    &m.to_ascii_lowercase(),
                    group,
                    resource,
                    sub,
                    namespace,
                    name,
                )
            }
        };
        Access::new(verb, group, resource, sub, namespace, name)
    }

    fn new(
        verb: &str,
        group: String,
        resource: String,
        sub: Option<String>,
        namespace: Option<String>,
        name: Option<String>,
    ) -> Access {
        Access {
            verb: verb.into(),
            group,
            resource: match sub {
                Some(s) => format!("{resource}/{s}"),
                None => resource,
            },
            namespace,
            name,
        }
    }

    /// `list pods (API group "") in namespace agentrun-v01`, `get roles (API group
    /// "rbac.authorization.k8s.io") "x" in namespace y`: the words of the API server's own
    /// forbidden message.
    pub fn describe(&self) -> String {
        let mut s = format!(
            "{} {} (API group \"{}\")",
            self.verb, self.resource, self.group
        );
        if let Some(n) = &self.name {
            s.push_str(&format!(" \"{n}\""));
        }
        match &self.namespace {
            Some(ns) => s.push_str(&format!(" in namespace {ns}")),
            None => s.push_str(" (cluster-scoped)"),
        }
        s
    }

    /// The RBAC rule that grants it, as a person would add it to a Role.
    pub fn rule(&self) -> String {
        let mut s = format!(
            "apiGroups: [\"{}\"], resources: [\"{}\"], verbs: [\"{}\"]",
            self.group, self.resource, self.verb
        );
        if let (Some(n), true) = (&self.name, self.verb != "list") {
            s.push_str(&format!(", resourceNames: [\"{n}\"]"));
        }
        s
    }
}

#[derive(Debug, thiserror::Error)]
pub enum KubeError {
    #[error(
        "no Kubernetes API configuration: no --api-server, no --kubeconfig, not in a cluster, no KUBECONFIG"
    )]
    NoConfig,
    #[error("{origin}: {message}")]
    Config { origin: String, message: String },
    /// An exec credential plugin failed or answered wrongly (never with its output).
    #[error("{origin}: {message}")]
    Exec {
        origin: String,
        message: String,
        hint: Option<String>,
    },
    #[error("cannot set up the HTTPS client: {0}")]
    Client(String),
    #[error("{method} {path}: {message}")]
    Transport {
        method: &'static str,
        path: String,
        message: String,
    },
    #[error("{method} {path}: HTTP 401: the API server refused the credentials ({reason})")]
    Unauthorized {
        method: &'static str,
        path: String,
        reason: String,
    },
    /// 403: the identity is known but lacks the permission. `verify` turns this into a failed
    /// check; it only escapes as an error where no check owns the request.
    #[error("{method} {path}: HTTP 403: the verifying identity may not {}: {message}", access.describe())]
    Forbidden {
        method: &'static str,
        path: String,
        access: Box<Access>,
        message: String,
    },
    #[error("{method} {path}: HTTP {status}: {message}")]
    Status {
        method: &'static str,
        path: String,
        status: u16,
        message: String,
    },
    /// 429/5xx still answered when the retry budget (or the `--wait` deadline) ran out.
    #[error("{method} {path}: HTTP {status} on each of {attempts} attempt(s) over {waited_ms} ms: {message}")]
    Unavailable {
        method: &'static str,
        path: String,
        status: u16,
        attempts: u32,
        waited_ms: u128,
        message: String,
    },
    #[error("{method} {path}: the answer is larger than {MAX_BODY} bytes")]
    TooLarge { method: &'static str, path: String },
    #[error("{method} {path}: the answer is not JSON: {message}")]
    Decode {
        method: &'static str,
        path: String,
        message: String,
    },
    #[error("GET {path}: {message}")]
    List { path: String, message: String },
}

impl Classified for KubeError {
    fn class(&self) -> ExitClass {
        ExitClass::Environment
    }
    fn hint(&self) -> Option<String> {
        Some(match self {
            KubeError::NoConfig => "pass --kubeconfig FILE, or --api-server URL --token-file FILE --ca-file FILE, or run in a pod with a service account; `--only static` needs no cluster".into(),
            KubeError::Config { .. } => "fix the kubeconfig or the flags named above".into(),
            KubeError::Exec { hint: Some(h), .. } => h.clone(),
            KubeError::Exec { .. } => "run the plugin by hand to see what it needs (a login, a refreshed session, a flag)".into(),
            KubeError::Client(_) => "check the CA and client certificate PEM files".into(),
            KubeError::Transport { .. } => "check the API server URL, the network, and that the CA file is the cluster's CA".into(),
            KubeError::Unauthorized { .. } => "the token or client certificate is not accepted: refresh the service-account token".into(),
            KubeError::Forbidden { access, .. } => format!("grant the verifying identity {} (the lane's verify RBAC in pipelines/rbac.yaml; docs/verify.md lists every permission)", access.rule()),
            KubeError::Unavailable { status: 429, .. } => "the API server is throttling requests: run again later, or give `--wait` a longer deadline".into(),
            KubeError::Unavailable { .. } => "the API server (or an aggregated API behind it) is failing: check its health, then run again or give `--wait` a longer deadline".into(),
            KubeError::List { .. } => "run again; a list that changes faster than it can be read is not release evidence".into(),
            KubeError::TooLarge { .. } => "an object this large is not one lane wrote: look at it with kubectl".into(),
            _ => return None,
        })
    }
}

/// Install the ring crypto provider for rustls once per process (reqwest is built without
/// a provider, see docs/decisions.md).
pub fn install_crypto_provider() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // An error means another provider is already installed, which is fine.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// An HTTP answer read whole (bounded).
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub body: Vec<u8>,
    /// `Retry-After` in seconds, when the server sent one.
    pub retry_after: Option<Duration>,
}

/// A connected client.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    server: String,
    token: Option<String>,
    /// A plugin that gives the bearer token (asked before each request; cached until expiry).
    exec: Option<Arc<exec::ExecAuth>>,
    /// Retry 429/5xx until then (the `--wait` deadline); without it, for
    /// [`DEFAULT_RETRY_BUDGET`] from each request's first attempt.
    retry_until: Option<Instant>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("server", &self.server)
            .finish()
    }
}

/// One page of a list (lenient: the API's shape, only what lane reads).
#[derive(Deserialize)]
struct ListPage {
    #[serde(default)]
    metadata: ListMeta,
    #[serde(default)]
    items: Option<Vec<Value>>,
}

#[derive(Deserialize, Default)]
struct ListMeta {
    #[serde(default, rename = "continue")]
    continue_token: Option<String>,
}

/// What a paged list read.
#[derive(Debug, Clone, Copy, Default)]
pub struct ListInfo {
    pub pages: usize,
    pub items: usize,
}

/// 429 (throttled) and the 5xx an overloaded or restarting API server answers are worth
/// retrying; 501 is not. Through the service proxy a 5xx is the backend's own answer (the
/// health check judges it), so only 429 is retried there.
fn retryable(status: u16, proxied: bool) -> bool {
    status == 429 || (!proxied && (500..600).contains(&status) && status != 501)
}

fn is_proxy(path: &str) -> bool {
    Access::of("GET", path).resource.ends_with("/proxy")
}

impl Client {
    pub fn new(cfg: &Config, timeout: Duration) -> Result<Client, KubeError> {
        install_crypto_provider();
        let mut b = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            // Redirects could carry the bearer token elsewhere; the API never needs them.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("lane/", env!("CARGO_PKG_VERSION")));
        if let Some(pem) = &cfg.ca_pem {
            let certs = reqwest::Certificate::from_pem_bundle(pem)
                .map_err(|e| KubeError::Client(format!("CA bundle: {e}")))?;
            if certs.is_empty() {
                return Err(KubeError::Client(
                    "the CA bundle holds no certificate".into(),
                ));
            }
            // Only the cluster CA, like kubectl: a public CA must not vouch for the API server.
            b = b.tls_certs_only(certs);
        }
        if cfg.insecure {
            b = b.tls_danger_accept_invalid_certs(true);
        }
        let mut token = None;
        let mut exec_token = None;
        let identity = |pem: &[u8]| {
            reqwest::Identity::from_pem(pem)
                .map_err(|e| KubeError::Client(format!("client certificate: {e}")))
        };
        match &cfg.credentials {
            Credentials::None => {}
            Credentials::Bearer(t) => token = Some(t.clone()),
            Credentials::ClientCert(pem) => b = b.identity(identity(pem)?),
            Credentials::Exec(auth) => {
                // A certificate from the plugin is fixed for this client; a token is asked
                // for again before each request (a new one once it expires).
                let first = auth.credential()?;
                if let Some(pem) = &first.identity_pem {
                    b = b.identity(identity(pem)?);
                }
                if first.token.is_some() {
                    exec_token = Some(auth.clone());
                }
            }
        }
        let http = b.build().map_err(|e| KubeError::Client(error_chain(&e)))?;
        Ok(Client {
            http,
            server: cfg.server.clone(),
            token,
            exec: exec_token,
            retry_until: None,
        })
    }

    /// This client, retrying 429/5xx (and timed-out requests) until `deadline`.
    pub fn retrying_until(&self, deadline: Instant) -> Client {
        Client {
            retry_until: Some(deadline),
            ..self.clone()
        }
    }

    pub fn server(&self) -> &str {
        &self.server
    }

    fn scrub(&self, m: String) -> String {
        let exec = self.exec.as_ref().and_then(|e| e.cached_token());
        let known: Vec<&str> = self
            .token
            .iter()
            .chain(exec.iter())
            .map(String::as_str)
            .collect();
        redact::scrub(&m, &known)
    }

    /// One request, read whole (bounded). `Err(true, e)` when a timeout is worth retrying.
    async fn once(
        &self,
        method: &'static str,
        path: &str,
        body: Option<(&'static str, Vec<u8>)>,
    ) -> Result<Answer, (bool, KubeError)> {
        let url = format!("{}{}", self.server, path);
        let mut req = match method {
            "PATCH" => self.http.patch(&url),
            "DELETE" => self.http.delete(&url),
            _ => self.http.get(&url),
        }
        .header("Accept", "application/json");
        if let Some((content_type, bytes)) = body {
            req = req.header("Content-Type", content_type).body(bytes);
        }
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        if let Some(auth) = &self.exec {
            if let Some(t) = auth.credential().map_err(|e| (false, e))?.token {
                req = req.bearer_auth(t);
            }
        }
        let transport = |e: reqwest::Error| {
            (
                e.is_timeout(),
                KubeError::Transport {
                    method,
                    path: path.into(),
                    message: self.scrub(error_chain(&e)),
                },
            )
        };
        let mut resp = req.send().await.map_err(transport)?;
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(|s| Duration::from_secs(s.min(24 * 3600)));
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(transport)? {
            if body.len() + chunk.len() > MAX_BODY {
                return Err((
                    false,
                    KubeError::TooLarge {
                        method,
                        path: path.into(),
                    },
                ));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Answer {
            status,
            body,
            retry_after,
        })
    }

    /// A request, retried on 429 (after `Retry-After`), 5xx and timeouts until the retry
    /// deadline; 401 and 403 become errors.
    async fn request(
        &self,
        method: &'static str,
        path: &str,
        body: Option<(&'static str, Vec<u8>)>,
    ) -> Result<Answer, KubeError> {
        let start = Instant::now();
        let deadline = self
            .retry_until
            .unwrap_or(start + DEFAULT_RETRY_BUDGET)
            .max(start);
        let proxied = is_proxy(path);
        let mut backoff = FIRST_BACKOFF;
        let mut attempts = 0u32;
        let mut refreshed = false;
        loop {
            attempts += 1;
            let (pause, last, note) = match self.once(method, path, body.clone()).await {
                // A plugin's token the server refuses (revoked before its expiry): ask the
                // plugin once more, as kubectl does.
                Ok(a) if a.status == 401 && self.exec.is_some() && !refreshed => {
                    refreshed = true;
                    if let Some(auth) = &self.exec {
                        auth.invalidate();
                    }
                    continue;
                }
                Ok(a) if retryable(a.status, proxied) => {
                    let message = status_message(&a.body);
                    let note = format!(
                        "{method} {path}: HTTP {}{} ({message})",
                        a.status,
                        match a.retry_after {
                            Some(d) => format!(", Retry-After {}s", d.as_secs()),
                            None => String::new(),
                        }
                    );
                    let err = KubeError::Unavailable {
                        method,
                        path: path.into(),
                        status: a.status,
                        attempts,
                        waited_ms: start.elapsed().as_millis(),
                        message,
                    };
                    (a.retry_after.unwrap_or(backoff), err, note)
                }
                Ok(a) => return self.judge_status(method, path, a),
                Err((true, e)) => {
                    let note = e.to_string();
                    (backoff, e, note)
                }
                Err((false, e)) => return Err(e),
            };
            // Never sleep past the deadline: what is still refused then is the answer.
            if Instant::now() + pause > deadline {
                return Err(last);
            }
            crate::output::progress(format!("{note}; retrying in {} ms", pause.as_millis()));
            tokio::time::sleep(pause).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    fn judge_status(
        &self,
        method: &'static str,
        path: &str,
        a: Answer,
    ) -> Result<Answer, KubeError> {
        match a.status {
            401 => Err(KubeError::Unauthorized {
                method,
                path: path.into(),
                reason: status_message(&a.body),
            }),
            403 => Err(KubeError::Forbidden {
                method,
                path: path.into(),
                access: Box::new(Access::of(method, path)),
                message: status_message(&a.body),
            }),
            _ => Ok(a),
        }
    }

    /// GET `path` (absolute API path with query) and return status and body.
    pub async fn get_raw(&self, path: &str) -> Result<Answer, KubeError> {
        self.request("GET", path, None).await
    }

    /// GET a JSON object; `None` when it does not exist (404).
    pub async fn get_json(&self, path: &str) -> Result<Option<Value>, KubeError> {
        let a = self.get_raw(path).await?;
        decode("GET", path, a)
    }

    /// JSON merge patch (RFC 7386) of one object; `None` when it does not exist.
    pub async fn merge_patch(&self, path: &str, patch: &Value) -> Result<Option<Value>, KubeError> {
        let bytes = serde_json::to_vec(patch).map_err(|e| KubeError::Client(e.to_string()))?;
        let a = self
            .request("PATCH", path, Some(("application/merge-patch+json", bytes)))
            .await?;
        decode("PATCH", path, a)
    }

    /// DELETE one object with `options` (a `DeleteOptions`); `false` when it was already gone
    /// (404) or its precondition failed (409: another object took the name).
    pub async fn delete(&self, path: &str, options: &Value) -> Result<bool, KubeError> {
        let bytes = serde_json::to_vec(options).map_err(|e| KubeError::Client(e.to_string()))?;
        let a = self
            .request("DELETE", path, Some(("application/json", bytes)))
            .await?;
        match a.status {
            200..=299 => Ok(true),
            404 | 409 => Ok(false),
            status => Err(KubeError::Status {
                method: "DELETE",
                path: path.into(),
                status,
                message: status_message(&a.body),
            }),
        }
    }

    /// Every item of a list, read in pages of [`LIST_PAGE`] (`limit`/`continue`), each handed
    /// to `each` and then dropped, so that a namespace of thousands of objects never has to
    /// fit one answer or memory. `None` when the resource does not exist (404).
    pub async fn list(
        &self,
        path: &str,
        label_selector: Option<&str>,
        mut each: impl FnMut(Value),
    ) -> Result<Option<ListInfo>, KubeError> {
        let mut info = ListInfo::default();
        let mut token: Option<String> = None;
        let mut limit = LIST_PAGE;
        loop {
            let mut q = format!("{path}?limit={limit}");
            if let Some(s) = label_selector {
                q.push_str(&format!("&labelSelector={}", encode_query(s)));
            }
            if let Some(t) = &token {
                q.push_str(&format!("&continue={}", encode_query(t)));
            }
            let page = match self.get_json(&q).await {
                Err(KubeError::TooLarge { .. }) if limit > 1 => {
                    limit = (limit / 4).max(1);
                    continue;
                }
                r => r?,
            };
            let Some(page) = page else {
                if info.pages == 0 {
                    return Ok(None);
                }
                return Err(KubeError::List {
                    path: path.into(),
                    message: "the list disappeared between pages".into(),
                });
            };
            let page: ListPage = serde_json::from_value(page).map_err(|e| KubeError::Decode {
                method: "GET",
                path: q.clone(),
                message: e.to_string(),
            })?;
            info.pages += 1;
            for item in page.items.unwrap_or_default() {
                info.items += 1;
                each(item);
            }
            match page.metadata.continue_token.filter(|t| !t.is_empty()) {
                None => return Ok(Some(info)),
                Some(t) if t.len() > 8192 || Some(&t) == token.as_ref() => {
                    return Err(KubeError::List {
                        path: path.into(),
                        message: "the server's continue token is too long or repeats".into(),
                    })
                }
                Some(t) => token = Some(t),
            }
            if info.pages >= MAX_PAGES {
                return Err(KubeError::List {
                    path: path.into(),
                    message: format!("more than {MAX_PAGES} pages"),
                });
            }
        }
    }
}

fn decode(method: &'static str, path: &str, a: Answer) -> Result<Option<Value>, KubeError> {
    match a.status {
        200..=299 => serde_json::from_slice(&a.body)
            .map(Some)
            .map_err(|e| KubeError::Decode {
                method,
                path: path.into(),
                message: e.to_string(),
            }),
        404 => Ok(None),
        s => Err(KubeError::Status {
            method,
            path: path.into(),
            status: s,
            message: status_message(&a.body),
        }),
    }
}

/// The `message` of a `kind: Status` answer, or the start of the body.
fn status_message(body: &[u8]) -> String {
    if let Ok(v) = serde_json::from_slice::<Value>(body) {
        if let Some(m) = v.get("message").and_then(Value::as_str) {
            return redact::scrub(&m.chars().take(500).collect::<String>(), &[]);
        }
    }
    let s = String::from_utf8_lossy(body);
    redact::scrub(&s.chars().take(200).collect::<String>(), &[])
}

fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    crate::error::chain(e)
}

/// Percent-encode a query value (label selectors contain `/` and `=`).
pub fn encode_query(v: &str) -> String {
    let mut s = String::with_capacity(v.len());
    for b in v.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                s.push(b as char)
            }
            _ => s.push_str(&format!("%{b:02X}")),
        }
    }
    s
}

/// API path of one object: core group for `v1`, `/apis/<group>/<version>` otherwise.
pub fn object_path(api_version: &str, kind: &str, namespace: Option<&str>, name: &str) -> String {
    let base = if api_version.contains('/') {
        format!("/apis/{api_version}")
    } else {
        format!("/api/{api_version}")
    };
    let plural = plural(kind);
    match namespace {
        Some(ns) if namespaced(kind) => format!("{base}/namespaces/{ns}/{plural}/{name}"),
        _ => format!("{base}/{plural}/{name}"),
    }
}

/// Resource name of a kind (the API's plural; the irregular ones the lane renders).
pub fn plural(kind: &str) -> String {
    let k = kind.to_ascii_lowercase();
    if k.ends_with("policy") {
        format!("{}ies", &k[..k.len() - 1])
    } else if k.ends_with('s') || k.ends_with("ss") {
        format!("{k}es")
    } else {
        format!("{k}s")
    }
}

/// Cluster-scoped kinds among those a lane can render.
pub fn namespaced(kind: &str) -> bool {
    !matches!(
        kind,
        "Namespace"
            | "ClusterRole"
            | "ClusterRoleBinding"
            | "PersistentVolume"
            | "StorageClass"
            | "CustomResourceDefinition"
    )
}

/// The condition of `kind` (`Succeeded`, `Ready`, …) in an object's `status.conditions`, as
/// Kubernetes and Knative-style resources (Tekton's runs) report them; `Value::Null` when the
/// object has none of that kind yet.
pub fn condition<'a>(object: &'a serde_json::Value, kind: &str) -> &'a serde_json::Value {
    object
        .pointer("/status/conditions")
        .and_then(serde_json::Value::as_array)
        .and_then(|cs| cs.iter().find(|c| c["type"] == kind))
        .unwrap_or(&serde_json::Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        assert_eq!(
            object_path("apps/v1", "Deployment", Some("ns"), "x"),
            "/apis/apps/v1/namespaces/ns/deployments/x"
        );
        assert_eq!(
            object_path("v1", "Namespace", Some("ns"), "ns"),
            "/api/v1/namespaces/ns"
        );
        assert_eq!(plural("NetworkPolicy"), "networkpolicies");
        assert_eq!(plural("Ingress"), "ingresses");
        assert_eq!(plural("PersistentVolumeClaim"), "persistentvolumeclaims");
        assert_eq!(encode_query("lane.dev/service=a"), "lane.dev%2Fservice%3Da");
    }

    #[test]
    fn access_of_requests() {
        let a = Access::of(
            "GET",
            "/apis/rbac.authorization.k8s.io/v1/namespaces/ns/roles/r",
        );
        assert_eq!(
            (a.verb.as_str(), a.group.as_str(), a.resource.as_str()),
            ("get", "rbac.authorization.k8s.io", "roles")
        );
        assert_eq!(a.namespace.as_deref(), Some("ns"));
        assert_eq!(
            a.describe(),
            "get roles (API group \"rbac.authorization.k8s.io\") \"r\" in namespace ns"
        );
        let l = Access::of("GET", "/api/v1/namespaces/ns/pods?labelSelector=a%3Db");
        assert_eq!(
            (l.verb.as_str(), l.resource.as_str(), l.name),
            ("list", "pods", None)
        );
        let p = Access::of("GET", "/api/v1/namespaces/ns/services/s:http/proxy/health");
        assert_eq!(p.resource, "services/proxy");
        assert_eq!(p.name.as_deref(), Some("s:http"));
        let n = Access::of("GET", "/api/v1/namespaces/ns");
        assert_eq!(
            (
                n.resource.as_str(),
                n.name.as_deref(),
                n.namespace.as_deref()
            ),
            ("namespaces", Some("ns"), Some("ns"))
        );
        let m = Access::of(
            "PATCH",
            "/apis/argoproj.io/v1alpha1/namespaces/argocd/applications/a",
        );
        assert_eq!(
            (m.verb.as_str(), m.group.as_str()),
            ("patch", "argoproj.io")
        );
        assert!(m.rule().contains("resourceNames: [\"a\"]"));
        assert!(retryable(429, true) && retryable(503, false) && !retryable(503, true));
        assert!(!retryable(501, false) && !retryable(404, false));
    }
}
