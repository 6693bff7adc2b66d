//! Where the Kubernetes API is and how to authenticate: explicit flags, a kubeconfig file,
//! the in-cluster service account, or `KUBECONFIG`. Credentials are loaded into memory and
//! never printed; [`Credentials`] has a redacting `Debug`.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::KubeError;

/// The in-cluster service-account mount (fixed by Kubernetes).
pub const SERVICE_ACCOUNT_DIR: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

/// How the API is reached, chosen by the caller's flags.
#[derive(Debug, Clone, Default)]
pub struct Source {
    /// `--kubeconfig FILE`.
    pub kubeconfig: Option<PathBuf>,
    /// `--api-server URL` (with `--token-file` and `--ca-file`).
    pub api_server: Option<String>,
    pub token_file: Option<PathBuf>,
    pub ca_file: Option<PathBuf>,
    /// Honour `insecure-skip-tls-verify: true` in a kubeconfig (refused otherwise).
    pub allow_insecure: bool,
}

/// A resolved connection.
#[derive(Clone)]
pub struct Config {
    /// `https://host:port` without a trailing slash.
    pub server: String,
    /// PEM of the CA bundle that signs the API server's certificate; `None` uses the
    /// platform's roots.
    pub ca_pem: Option<Vec<u8>>,
    pub insecure: bool,
    pub credentials: Credentials,
    /// Where this came from (a file path or `in-cluster`), for evidence.
    pub origin: String,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("server", &self.server)
            .field("ca", &self.ca_pem.as_ref().map(|c| c.len()))
            .field("insecure", &self.insecure)
            .field("credentials", &self.credentials)
            .field("origin", &self.origin)
            .finish()
    }
}

/// Authentication material. `Debug` shows the kind only.
#[derive(Clone)]
pub enum Credentials {
    None,
    Bearer(String),
    /// PEM certificate chain followed by the PEM private key (what reqwest's `Identity` reads).
    ClientCert(Vec<u8>),
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.kind())
    }
}

impl Credentials {
    pub fn kind(&self) -> &'static str {
        match self {
            Credentials::None => "none",
            Credentials::Bearer(_) => "bearer-token",
            Credentials::ClientCert(_) => "client-certificate",
        }
    }
}

impl Source {
    /// Resolve in order: explicit `--api-server`, `--kubeconfig`, in-cluster service account,
    /// `KUBECONFIG`, `~/.kube/config`.
    pub fn resolve(&self) -> Result<Config, KubeError> {
        if let Some(server) = &self.api_server {
            return explicit(server, self.token_file.as_deref(), self.ca_file.as_deref());
        }
        if let Some(k) = &self.kubeconfig {
            return from_kubeconfig(k, self.allow_insecure);
        }
        if let Some(c) = in_cluster()? {
            return Ok(c);
        }
        if let Some(list) = std::env::var_os("KUBECONFIG").filter(|v| !v.is_empty()) {
            // kubectl merges a list; lane reads the first file that exists.
            for p in std::env::split_paths(&list) {
                if p.is_file() {
                    return from_kubeconfig(&p, self.allow_insecure);
                }
            }
        }
        if let Some(home) = std::env::var_os("HOME") {
            let p = Path::new(&home).join(".kube/config");
            if p.is_file() {
                return from_kubeconfig(&p, self.allow_insecure);
            }
        }
        Err(KubeError::NoConfig)
    }
}

fn read(path: &Path, what: &str) -> Result<Vec<u8>, KubeError> {
    std::fs::read(path).map_err(|e| KubeError::Config {
        origin: path.display().to_string(),
        message: format!("cannot read {what}: {e}"),
    })
}

fn read_token(path: &Path) -> Result<String, KubeError> {
    let t = String::from_utf8(read(path, "the token file")?).map_err(|_| KubeError::Config {
        origin: path.display().to_string(),
        message: "the token file is not UTF-8".into(),
    })?;
    let t = t.trim().to_string();
    if t.is_empty() {
        return Err(KubeError::Config {
            origin: path.display().to_string(),
            message: "the token file is empty".into(),
        });
    }
    Ok(t)
}

fn check_server(server: &str, origin: &str) -> Result<String, KubeError> {
    let s = server.trim().trim_end_matches('/');
    if !s.starts_with("https://") {
        return Err(KubeError::Config {
            origin: origin.into(),
            message: format!(
                "API server '{s}' is not an https:// URL; a bearer token is never sent in clear"
            ),
        });
    }
    Ok(s.to_string())
}

fn explicit(server: &str, token: Option<&Path>, ca: Option<&Path>) -> Result<Config, KubeError> {
    let origin = "--api-server".to_string();
    Ok(Config {
        server: check_server(server, &origin)?,
        ca_pem: ca.map(|p| read(p, "the CA file")).transpose()?,
        insecure: false,
        credentials: match token {
            Some(t) => Credentials::Bearer(read_token(t)?),
            None => Credentials::None,
        },
        origin,
    })
}

/// The pod's service account, when running in a cluster.
fn in_cluster() -> Result<Option<Config>, KubeError> {
    let (Ok(host), Ok(port)) = (
        std::env::var("KUBERNETES_SERVICE_HOST"),
        std::env::var("KUBERNETES_SERVICE_PORT"),
    ) else {
        return Ok(None);
    };
    let dir = Path::new(SERVICE_ACCOUNT_DIR);
    let token = dir.join("token");
    if !token.is_file() {
        return Ok(None);
    }
    let host = if host.contains(':') {
        format!("[{host}]")
    } else {
        host
    };
    let ca = dir.join("ca.crt");
    Ok(Some(Config {
        server: format!("https://{host}:{port}"),
        ca_pem: if ca.is_file() {
            Some(read(&ca, "the service-account CA")?)
        } else {
            None
        },
        insecure: false,
        credentials: Credentials::Bearer(read_token(&token)?),
        origin: "in-cluster".into(),
    }))
}

#[derive(Debug, Deserialize)]
struct Kubeconfig {
    #[serde(rename = "current-context", default)]
    current_context: Option<String>,
    #[serde(default)]
    clusters: Vec<NamedCluster>,
    #[serde(default)]
    contexts: Vec<NamedContext>,
    #[serde(default)]
    users: Vec<NamedUser>,
}

#[derive(Debug, Deserialize)]
struct NamedCluster {
    name: String,
    cluster: ClusterEntry,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case")]
struct ClusterEntry {
    server: String,
    #[serde(default)]
    certificate_authority: Option<String>,
    #[serde(default)]
    certificate_authority_data: Option<String>,
    #[serde(default)]
    insecure_skip_tls_verify: bool,
}

#[derive(Debug, Deserialize)]
struct NamedContext {
    name: String,
    context: ContextEntry,
}

#[derive(Debug, Deserialize)]
struct ContextEntry {
    cluster: String,
    #[serde(default)]
    user: Option<String>,
}

#[derive(Debug, Deserialize)]
struct NamedUser {
    name: String,
    #[serde(default)]
    user: Option<UserEntry>,
}

#[derive(Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
struct UserEntry {
    #[serde(default)]
    token: Option<String>,
    #[serde(default, rename = "tokenFile")]
    token_file: Option<String>,
    #[serde(default)]
    client_certificate: Option<String>,
    #[serde(default)]
    client_certificate_data: Option<String>,
    #[serde(default)]
    client_key: Option<String>,
    #[serde(default)]
    client_key_data: Option<String>,
    #[serde(default)]
    exec: Option<serde::de::IgnoredAny>,
    #[serde(default, rename = "auth-provider")]
    auth_provider: Option<serde::de::IgnoredAny>,
}

impl std::fmt::Debug for UserEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("UserEntry(<redacted>)")
    }
}

/// Read a kubeconfig: its current context's cluster and user.
pub fn from_kubeconfig(path: &Path, allow_insecure: bool) -> Result<Config, KubeError> {
    let origin = path.display().to_string();
    let err = |message: String| KubeError::Config {
        origin: origin.clone(),
        message,
    };
    let bytes = read(path, "the kubeconfig")?;
    let text = String::from_utf8(bytes).map_err(|_| err("not UTF-8".into()))?;
    // The parser's message may quote the document; keep only its position-free summary.
    let kc: Kubeconfig = serde_saphyr::from_str(&text).map_err(|e| {
        err(format!(
            "not a kubeconfig: {}",
            crate::model::secrets::scrub(&e.to_string(), &[])
                .lines()
                .next()
                .unwrap_or_default()
        ))
    })?;
    let base = path.parent().unwrap_or(Path::new("."));
    let rel = |p: &str| -> PathBuf {
        let p = Path::new(p);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            base.join(p)
        }
    };
    let ctx_name = kc
        .current_context
        .clone()
        .filter(|c| !c.is_empty())
        .ok_or_else(|| {
            err("no current-context; set one with `kubectl config use-context`".into())
        })?;
    let ctx = kc
        .contexts
        .iter()
        .find(|c| c.name == ctx_name)
        .ok_or_else(|| err(format!("current-context '{ctx_name}' is not in contexts")))?;
    let cluster = kc
        .clusters
        .iter()
        .find(|c| c.name == ctx.context.cluster)
        .ok_or_else(|| {
            err(format!(
                "context '{ctx_name}' names cluster '{}', which is not in clusters",
                ctx.context.cluster
            ))
        })?;
    let c = &cluster.cluster;
    if c.insecure_skip_tls_verify && !allow_insecure {
        return Err(err(format!(
            "cluster '{}' sets insecure-skip-tls-verify; lane refuses to send credentials without \
             verifying the server (pass --insecure-skip-tls-verify to accept this)",
            cluster.name
        )));
    }
    let ca_pem = match (&c.certificate_authority_data, &c.certificate_authority) {
        (Some(d), _) => Some(
            decode_base64(d)
                .ok_or_else(|| err("certificate-authority-data is not base64".into()))?,
        ),
        (None, Some(f)) => Some(read(&rel(f), "certificate-authority")?),
        (None, None) => None,
    };
    let user = match &ctx.context.user {
        Some(u) => kc
            .users
            .iter()
            .find(|x| &x.name == u)
            .ok_or_else(|| {
                err(format!(
                    "context '{ctx_name}' names user '{u}', which is not in users"
                ))
            })?
            .user
            .as_ref(),
        None => None,
    };
    let credentials = match user {
        None => Credentials::None,
        Some(u) => user_credentials(u, &rel, &err)?,
    };
    Ok(Config {
        server: check_server(&c.server, &origin)?,
        ca_pem,
        insecure: c.insecure_skip_tls_verify,
        credentials,
        origin,
    })
}

fn user_credentials(
    u: &UserEntry,
    rel: &dyn Fn(&str) -> PathBuf,
    err: &dyn Fn(String) -> KubeError,
) -> Result<Credentials, KubeError> {
    if let Some(t) = u.token.as_deref().filter(|t| !t.is_empty()) {
        return Ok(Credentials::Bearer(t.trim().to_string()));
    }
    if let Some(f) = &u.token_file {
        return Ok(Credentials::Bearer(read_token(&rel(f))?));
    }
    let cert = match (&u.client_certificate_data, &u.client_certificate) {
        (Some(d), _) => Some(
            decode_base64(d).ok_or_else(|| err("client-certificate-data is not base64".into()))?,
        ),
        (None, Some(f)) => Some(read(&rel(f), "client-certificate")?),
        _ => None,
    };
    let key = match (&u.client_key_data, &u.client_key) {
        (Some(d), _) => {
            Some(decode_base64(d).ok_or_else(|| err("client-key-data is not base64".into()))?)
        }
        (None, Some(f)) => Some(read(&rel(f), "client-key")?),
        _ => None,
    };
    match (cert, key) {
        (Some(mut c), Some(k)) => {
            if !c.ends_with(b"\n") {
                c.push(b'\n');
            }
            c.extend_from_slice(&k);
            Ok(Credentials::ClientCert(c))
        }
        (Some(_), None) | (None, Some(_)) => Err(err(
            "the user has a client certificate or key but not both".into(),
        )),
        (None, None) if u.exec.is_some() || u.auth_provider.is_some() => Err(err(
            "the user authenticates through an exec/auth-provider plugin, which lane does not run; \
             use a service-account token (token or tokenFile)"
                .into(),
        )),
        (None, None) => Ok(Credentials::None),
    }
}

pub use crate::encoding::base64_decode as decode_base64;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_roundtrip_known() {
        assert_eq!(decode_base64("aGVsbG8=").unwrap(), b"hello");
        assert_eq!(decode_base64("aGVsbG8").unwrap(), b"hello");
        assert_eq!(decode_base64("aGV\nsbG8gd29ybGQ=").unwrap(), b"hello world");
        assert!(decode_base64("a*b").is_none());
    }

    #[test]
    fn credentials_debug_hides_token() {
        let c = Credentials::Bearer("very-secret-token".into());
        assert_eq!(format!("{c:?}"), "bearer-token");
    }

    #[test]
    fn kubeconfig_current_context_and_relative_paths() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("ca.pem"), "CA").unwrap();
        std::fs::write(d.path().join("tok"), "abc\n").unwrap();
        let kc = d.path().join("config");
        std::fs::write(
            &kc,
            "apiVersion: v1\nkind: Config\ncurrent-context: b\nclusters:\n- name: one\n  cluster:\n    server: https://one:6443\n- name: two\n  cluster:\n    server: https://two:6443/\n    certificate-authority: ca.pem\ncontexts:\n- name: a\n  context: {cluster: one, user: u}\n- name: b\n  context: {cluster: two, user: u}\nusers:\n- name: u\n  user:\n    tokenFile: tok\n",
        )
        .unwrap();
        let c = from_kubeconfig(&kc, false).unwrap();
        assert_eq!(c.server, "https://two:6443");
        assert_eq!(c.ca_pem.as_deref(), Some(&b"CA"[..]));
        assert!(matches!(c.credentials, Credentials::Bearer(ref t) if t == "abc"));
    }

    #[test]
    fn insecure_is_refused_unless_allowed() {
        let d = tempfile::tempdir().unwrap();
        let kc = d.path().join("config");
        std::fs::write(
            &kc,
            "current-context: a\nclusters:\n- name: c\n  cluster:\n    server: https://x:6443\n    insecure-skip-tls-verify: true\ncontexts:\n- name: a\n  context: {cluster: c}\n",
        )
        .unwrap();
        let e = from_kubeconfig(&kc, false).unwrap_err().to_string();
        assert!(e.contains("insecure-skip-tls-verify"), "{e}");
        assert!(from_kubeconfig(&kc, true).unwrap().insecure);
    }
}
