//! A small read-only client for the Kubernetes API and the Argo CD and Tekton custom resources
//! it serves. GET only: `verify` observes, it never changes the cluster.

pub mod config;

use std::sync::Once;
use std::time::Duration;

use serde_json::Value;

pub use config::{Config, Credentials, Source};

use crate::error::{Classified, ExitClass};
use crate::model::secrets;

/// Bytes read from one response at most (a list of pods of a lane fits easily).
const MAX_BODY: usize = 16 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum KubeError {
    #[error(
        "no Kubernetes API configuration: no --api-server, no --kubeconfig, not in a cluster, no KUBECONFIG"
    )]
    NoConfig,
    #[error("{origin}: {message}")]
    Config { origin: String, message: String },
    #[error("cannot set up the HTTPS client: {0}")]
    Client(String),
    #[error("GET {path}: {message}")]
    Transport { path: String, message: String },
    #[error("GET {path}: HTTP {status}: the API server refused the credentials ({reason})")]
    Unauthorized {
        path: String,
        status: u16,
        reason: String,
    },
    #[error("GET {path}: HTTP {status}: {message}")]
    Status {
        path: String,
        status: u16,
        message: String,
    },
    #[error("GET {path}: the answer is not JSON: {message}")]
    Decode { path: String, message: String },
}

impl Classified for KubeError {
    fn class(&self) -> ExitClass {
        ExitClass::Environment
    }
    fn hint(&self) -> Option<String> {
        Some(match self {
            KubeError::NoConfig => "pass --kubeconfig FILE, or --api-server URL --token-file FILE --ca-file FILE, or run in a pod with a service account; `--only static` needs no cluster".into(),
            KubeError::Config { .. } => "fix the kubeconfig or the flags named above".into(),
            KubeError::Client(_) => "check the CA and client certificate PEM files".into(),
            KubeError::Transport { .. } => "check the API server URL, the network, and that the CA file is the cluster's CA".into(),
            KubeError::Unauthorized { status: 401, .. } => "the token or client certificate is not accepted: refresh the service-account token".into(),
            KubeError::Unauthorized { .. } => "the identity lacks read access: grant get/list on the objects named above (the lane's verify Role)".into(),
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
}

/// A connected client.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    server: String,
    token: Option<String>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("server", &self.server)
            .finish()
    }
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
        match &cfg.credentials {
            Credentials::None => {}
            Credentials::Bearer(t) => token = Some(t.clone()),
            Credentials::ClientCert(pem) => {
                let id = reqwest::Identity::from_pem(pem)
                    .map_err(|e| KubeError::Client(format!("client certificate: {e}")))?;
                b = b.identity(id);
            }
        }
        let http = b.build().map_err(|e| KubeError::Client(error_chain(&e)))?;
        Ok(Client {
            http,
            server: cfg.server.clone(),
            token,
        })
    }

    pub fn server(&self) -> &str {
        &self.server
    }

    /// GET `path` (absolute API path with query) and return status and body.
    pub async fn get_raw(&self, path: &str) -> Result<Answer, KubeError> {
        let url = format!("{}{}", self.server, path);
        let mut req = self.http.get(&url).header("Accept", "application/json");
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        let scrub = |m: String| match &self.token {
            Some(t) => secrets::scrub(&m, &[t.as_str()]),
            None => secrets::scrub(&m, &[]),
        };
        let mut resp = req.send().await.map_err(|e| KubeError::Transport {
            path: path.into(),
            message: scrub(error_chain(&e)),
        })?;
        let status = resp.status().as_u16();
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| KubeError::Transport {
            path: path.into(),
            message: scrub(error_chain(&e)),
        })? {
            if body.len() + chunk.len() > MAX_BODY {
                return Err(KubeError::Transport {
                    path: path.into(),
                    message: format!("answer larger than {MAX_BODY} bytes"),
                });
            }
            body.extend_from_slice(&chunk);
        }
        if status == 401 || status == 403 {
            return Err(KubeError::Unauthorized {
                path: path.into(),
                status,
                reason: status_message(&body),
            });
        }
        Ok(Answer { status, body })
    }

    /// GET a JSON object; `None` when it does not exist (404).
    pub async fn get_json(&self, path: &str) -> Result<Option<Value>, KubeError> {
        let a = self.get_raw(path).await?;
        match a.status {
            200..=299 => serde_json::from_slice(&a.body)
                .map(Some)
                .map_err(|e| KubeError::Decode {
                    path: path.into(),
                    message: e.to_string(),
                }),
            404 => Ok(None),
            s => Err(KubeError::Status {
                path: path.into(),
                status: s,
                message: status_message(&a.body),
            }),
        }
    }
}

/// The `message` of a `kind: Status` answer, or the start of the body.
fn status_message(body: &[u8]) -> String {
    if let Ok(v) = serde_json::from_slice::<Value>(body) {
        if let Some(m) = v.get("message").and_then(Value::as_str) {
            return secrets::scrub(m, &[]);
        }
    }
    let s = String::from_utf8_lossy(body);
    secrets::scrub(&s.chars().take(200).collect::<String>(), &[])
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
}
