//! Where the Kubernetes API is and how to authenticate, chosen as kubectl chooses:
//!
//! 1. `--api-server URL` (with `--token-file`, `--ca-file`): lane's own explicit form.
//! 2. The kubeconfig: `--kubeconfig FILE` alone (it must exist); else every file of the
//!    `KUBECONFIG` list (`:`-separated, missing files skipped) merged in order; else
//!    `~/.kube/config`. Merging follows kubectl: the first file that names a cluster, context or
//!    user wins for that name, and `current-context` comes from the first file that sets one.
//!    `--context NAME` replaces the current context.
//! 3. The pod's service account (`KUBERNETES_SERVICE_HOST`/`_PORT` and the token under
//!    [`SERVICE_ACCOUNT_DIR`]), only when the kubeconfig configures nothing (no clusters, no
//!    contexts): a kubeconfig that exists wins, like kubectl's deferred loading.
//!
//! Credentials are loaded into memory and never printed; [`Credentials`] has a redacting
//! `Debug`. A user may authenticate through an exec credential plugin (`super::exec`).

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;

use super::exec::{ExecAuth, ExecConfig};
use super::KubeError;

/// The in-cluster service-account mount (fixed by Kubernetes).
pub const SERVICE_ACCOUNT_DIR: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

/// Bytes of one kubeconfig, token, CA or key file at most.
const MAX_FILE: u64 = 4 * 1024 * 1024;
/// Files of a `KUBECONFIG` list at most.
const MAX_FILES: usize = 64;

/// How the API is reached, chosen by the caller's flags.
#[derive(Debug, Clone, Default)]
pub struct Source {
    /// `--kubeconfig FILE`.
    pub kubeconfig: Option<PathBuf>,
    /// `--context NAME`: this kubeconfig context instead of the current one.
    pub context: Option<String>,
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
    /// Where this came from (file paths and context, or `in-cluster`), for evidence.
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
    /// An exec credential plugin, run when a credential is needed and cached until it expires.
    Exec(Arc<ExecAuth>),
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
            Credentials::Exec(_) => "exec-plugin",
        }
    }
}

impl Source {
    /// Resolve in kubectl's order (module docs).
    pub fn resolve(&self) -> Result<Config, KubeError> {
        if let Some(server) = &self.api_server {
            return explicit(server, self.token_file.as_deref(), self.ca_file.as_deref());
        }
        let files = self.kubeconfig_files()?;
        let merged = Merged::load(&files, self.kubeconfig.is_some())?;
        if merged.is_empty() {
            if let Some(name) = &self.context {
                return Err(KubeError::Config {
                    origin: "--context".into(),
                    message: format!(
                        "context '{name}' does not exist: no kubeconfig with contexts was found ({})",
                        describe_files(&files)
                    ),
                });
            }
            if let Some(c) = in_cluster()? {
                return Ok(c);
            }
            return Err(KubeError::NoConfig);
        }
        merged.config(self.context.as_deref(), self.allow_insecure)
    }

    /// `--kubeconfig`, else the `KUBECONFIG` list, else `~/.kube/config` when it exists.
    fn kubeconfig_files(&self) -> Result<Vec<PathBuf>, KubeError> {
        if let Some(k) = &self.kubeconfig {
            return Ok(vec![k.clone()]);
        }
        if let Some(list) = std::env::var_os("KUBECONFIG").filter(|v| !v.is_empty()) {
            let mut files: Vec<PathBuf> = Vec::new();
            for p in std::env::split_paths(&list).filter(|p| !p.as_os_str().is_empty()) {
                if !files.contains(&p) {
                    files.push(p);
                }
            }
            if files.len() > MAX_FILES {
                return Err(KubeError::Config {
                    origin: "KUBECONFIG".into(),
                    message: format!(
                        "lists {} files; lane merges at most {MAX_FILES}",
                        files.len()
                    ),
                });
            }
            return Ok(files);
        }
        Ok(std::env::var_os("HOME")
            .map(|home| Path::new(&home).join(".kube/config"))
            .filter(|p| p.is_file())
            .into_iter()
            .collect())
    }
}

fn describe_files(files: &[PathBuf]) -> String {
    if files.is_empty() {
        "no KUBECONFIG, no ~/.kube/config".into()
    } else {
        files
            .iter()
            .map(|f| f.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Read a whole file of at most [`MAX_FILE`] bytes.
pub(super) fn read(path: &Path, what: &str) -> Result<Vec<u8>, KubeError> {
    let err = |message: String| KubeError::Config {
        origin: path.display().to_string(),
        message,
    };
    let f = std::fs::File::open(path).map_err(|e| err(format!("cannot read {what}: {e}")))?;
    let mut bytes = Vec::new();
    f.take(MAX_FILE + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| err(format!("cannot read {what}: {e}")))?;
    if bytes.len() as u64 > MAX_FILE {
        return Err(err(format!("{what} is larger than {MAX_FILE} bytes")));
    }
    Ok(bytes)
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

/// The pod's service account, when running in a cluster (client-go's rule: both variables
/// set and the token file present).
fn in_cluster() -> Result<Option<Config>, KubeError> {
    let (Ok(host), Ok(port)) = (
        std::env::var("KUBERNETES_SERVICE_HOST"),
        std::env::var("KUBERNETES_SERVICE_PORT"),
    ) else {
        return Ok(None);
    };
    if host.is_empty() || port.is_empty() {
        return Ok(None);
    }
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
    clusters: Option<Vec<NamedCluster>>,
    #[serde(default)]
    contexts: Option<Vec<NamedContext>>,
    #[serde(default)]
    users: Option<Vec<NamedUser>>,
}

#[derive(Debug, Deserialize)]
struct NamedCluster {
    name: String,
    cluster: ClusterEntry,
}

#[derive(Debug, Clone, Deserialize)]
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

#[derive(Debug, Clone, Deserialize)]
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

#[derive(Default, Clone, Deserialize)]
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
    exec: Option<ExecConfig>,
    #[serde(default, rename = "auth-provider")]
    auth_provider: Option<serde::de::IgnoredAny>,
}

impl std::fmt::Debug for UserEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("UserEntry(<redacted>)")
    }
}

/// One named entry and the file that defined it (its relative paths are relative to it).
#[derive(Debug, Clone)]
struct Defined<T> {
    value: T,
    file: PathBuf,
}

impl<T> Defined<T> {
    fn rel(&self, p: &str) -> PathBuf {
        let p = Path::new(p);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.file.parent().unwrap_or(Path::new(".")).join(p)
        }
    }
}

/// The kubeconfig files merged by kubectl's rules.
#[derive(Debug, Default)]
struct Merged {
    files: Vec<PathBuf>,
    current_context: Option<Defined<String>>,
    clusters: BTreeMap<String, Defined<ClusterEntry>>,
    contexts: BTreeMap<String, Defined<ContextEntry>>,
    users: BTreeMap<String, Defined<Option<UserEntry>>>,
}

/// Parse one kubeconfig file; the parser's message may quote the document, so only its
/// first line, scrubbed, is kept.
fn parse(path: &Path) -> Result<Kubeconfig, KubeError> {
    let err = |message: String| KubeError::Config {
        origin: path.display().to_string(),
        message,
    };
    let text = String::from_utf8(read(path, "the kubeconfig")?)
        .map_err(|_| err("the kubeconfig is not UTF-8".into()))?;
    if text.trim().is_empty() {
        return Ok(Kubeconfig {
            current_context: None,
            clusters: None,
            contexts: None,
            users: None,
        });
    }
    serde_saphyr::from_str(&text).map_err(|e| {
        err(format!(
            "not a kubeconfig: {}",
            crate::redact::scrub(&e.to_string(), &[])
                .lines()
                .next()
                .unwrap_or_default()
        ))
    })
}

impl Merged {
    /// `required`: the files must exist (`--kubeconfig`); otherwise a missing one is skipped,
    /// as kubectl skips missing `KUBECONFIG` entries.
    fn load(files: &[PathBuf], required: bool) -> Result<Merged, KubeError> {
        let mut m = Merged::default();
        for file in files {
            if !required && !file.exists() {
                continue;
            }
            let kc = parse(file)?;
            m.files.push(file.clone());
            let at = |value| Defined {
                value,
                file: file.clone(),
            };
            if m.current_context.is_none() {
                if let Some(c) = kc.current_context.filter(|c| !c.is_empty()) {
                    m.current_context = Some(at(c));
                }
            }
            for c in kc.clusters.unwrap_or_default() {
                m.clusters.entry(c.name).or_insert_with(|| Defined {
                    value: c.cluster,
                    file: file.clone(),
                });
            }
            for c in kc.contexts.unwrap_or_default() {
                m.contexts.entry(c.name).or_insert_with(|| Defined {
                    value: c.context,
                    file: file.clone(),
                });
            }
            for u in kc.users.unwrap_or_default() {
                m.users.entry(u.name).or_insert_with(|| Defined {
                    value: u.user,
                    file: file.clone(),
                });
            }
        }
        Ok(m)
    }

    /// Configures nothing: kubectl then tries the in-cluster service account.
    fn is_empty(&self) -> bool {
        self.clusters.is_empty() && self.contexts.is_empty()
    }

    fn origin(&self, context: &str) -> String {
        format!(
            "{} (context {context})",
            self.files
                .iter()
                .map(|f| f.display().to_string())
                .collect::<Vec<_>>()
                .join(":")
        )
    }

    fn config(&self, context: Option<&str>, allow_insecure: bool) -> Result<Config, KubeError> {
        let files = self
            .files
            .iter()
            .map(|f| f.display().to_string())
            .collect::<Vec<_>>()
            .join(":");
        let err = |message: String| KubeError::Config {
            origin: files.clone(),
            message,
        };
        let ctx_name = match context {
            Some(c) => c.to_string(),
            None => self
                .current_context
                .as_ref()
                .map(|c| c.value.clone())
                .ok_or_else(|| {
                    err("no current-context; set one with `kubectl config use-context`, or pass --context".into())
                })?,
        };
        let known = || self.contexts.keys().cloned().collect::<Vec<_>>().join(", ");
        let ctx = self.contexts.get(&ctx_name).ok_or_else(|| {
            err(format!(
                "context '{ctx_name}' is not in contexts (contexts: {})",
                known()
            ))
        })?;
        let cluster_name = &ctx.value.cluster;
        let cluster = self.clusters.get(cluster_name).ok_or_else(|| {
            err(format!(
                "context '{ctx_name}' names cluster '{cluster_name}', which is not in clusters"
            ))
        })?;
        let origin = self.origin(&ctx_name);
        let cerr = |message: String| KubeError::Config {
            origin: cluster.file.display().to_string(),
            message,
        };
        let c = &cluster.value;
        if c.insecure_skip_tls_verify && !allow_insecure {
            return Err(cerr(format!(
                "cluster '{cluster_name}' sets insecure-skip-tls-verify; lane refuses to send \
                 credentials without verifying the server (pass --insecure-skip-tls-verify to \
                 accept this)"
            )));
        }
        let ca_pem = match (&c.certificate_authority_data, &c.certificate_authority) {
            (Some(d), _) => Some(decode_base64(d).ok_or_else(|| {
                cerr(format!(
                    "cluster '{cluster_name}': certificate-authority-data is not base64"
                ))
            })?),
            (None, Some(f)) => Some(read(&cluster.rel(f), "certificate-authority")?),
            (None, None) => None,
        };
        let server = check_server(&c.server, &cluster.file.display().to_string())?;
        let credentials = match &ctx.value.user {
            Some(u) => {
                let user = self.users.get(u).ok_or_else(|| {
                    err(format!(
                        "context '{ctx_name}' names user '{u}', which is not in users"
                    ))
                })?;
                match &user.value {
                    Some(entry) => user_credentials(u, entry, user, &server, c)?,
                    None => Credentials::None,
                }
            }
            None => Credentials::None,
        };
        Ok(Config {
            server,
            ca_pem,
            insecure: c.insecure_skip_tls_verify,
            credentials,
            origin,
        })
    }
}

fn user_credentials(
    name: &str,
    u: &UserEntry,
    at: &Defined<Option<UserEntry>>,
    server: &str,
    cluster: &ClusterEntry,
) -> Result<Credentials, KubeError> {
    let err = |message: String| KubeError::Config {
        origin: at.file.display().to_string(),
        message: format!("user '{name}': {message}"),
    };
    if let Some(t) = u.token.as_deref().filter(|t| !t.trim().is_empty()) {
        return Ok(Credentials::Bearer(t.trim().to_string()));
    }
    if let Some(f) = &u.token_file {
        return Ok(Credentials::Bearer(read_token(&at.rel(f))?));
    }
    let cert = match (&u.client_certificate_data, &u.client_certificate) {
        (Some(d), _) => Some(
            decode_base64(d).ok_or_else(|| err("client-certificate-data is not base64".into()))?,
        ),
        (None, Some(f)) => Some(read(&at.rel(f), "client-certificate")?),
        _ => None,
    };
    let key = match (&u.client_key_data, &u.client_key) {
        (Some(d), _) => {
            Some(decode_base64(d).ok_or_else(|| err("client-key-data is not base64".into()))?)
        }
        (None, Some(f)) => Some(read(&at.rel(f), "client-key")?),
        _ => None,
    };
    match (cert, key) {
        (Some(c), Some(k)) => Ok(Credentials::ClientCert(join_pem(c, &k))),
        (Some(_), None) | (None, Some(_)) => {
            Err(err("has a client certificate or key but not both".into()))
        }
        (None, None) => {
            if let Some(exec) = &u.exec {
                let base = at.file.parent().unwrap_or(Path::new(".")).to_path_buf();
                let auth = ExecAuth::new(
                    name,
                    exec.clone(),
                    &at.file,
                    &base,
                    server,
                    cluster.certificate_authority_data.as_deref(),
                )?;
                return Ok(Credentials::Exec(Arc::new(auth)));
            }
            if u.auth_provider.is_some() {
                return Err(err(
                    "authenticates through an auth-provider plugin (removed from kubectl); use \
                     an exec credential plugin or a service-account token (token or tokenFile)"
                        .into(),
                ));
            }
            Ok(Credentials::None)
        }
    }
}

/// A certificate chain followed by its key, as reqwest's `Identity::from_pem` reads them.
pub(super) fn join_pem(mut cert: Vec<u8>, key: &[u8]) -> Vec<u8> {
    if !cert.ends_with(b"\n") {
        cert.push(b'\n');
    }
    cert.extend_from_slice(key);
    cert
}

/// Read one kubeconfig file (its current context's cluster and user), as `--kubeconfig`.
pub fn from_kubeconfig(path: &Path, allow_insecure: bool) -> Result<Config, KubeError> {
    Source {
        kubeconfig: Some(path.to_path_buf()),
        allow_insecure,
        ..Source::default()
    }
    .resolve()
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
        let a = Source {
            kubeconfig: Some(kc.clone()),
            context: Some("a".into()),
            ..Source::default()
        }
        .resolve()
        .unwrap();
        assert_eq!(a.server, "https://one:6443");
        assert!(a.origin.ends_with("(context a)"), "{}", a.origin);
        let e = Source {
            kubeconfig: Some(kc),
            context: Some("nope".into()),
            ..Source::default()
        }
        .resolve()
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("context 'nope' is not in contexts (contexts: a, b)"),
            "{e}"
        );
    }

    #[test]
    fn merge_takes_each_name_and_the_current_context_from_the_first_file() {
        let d = tempfile::tempdir().unwrap();
        let sub = d.path().join("sub");
        std::fs::create_dir(&sub).unwrap();
        std::fs::write(sub.join("tok"), "from-first\n").unwrap();
        std::fs::write(d.path().join("tok"), "from-second\n").unwrap();
        let first = sub.join("first");
        let second = d.path().join("second");
        std::fs::write(
            &first,
            "users:\n- name: u\n  user: {tokenFile: tok}\nclusters:\n- name: c\n  cluster: {server: 'https://first:1'}\n",
        )
        .unwrap();
        std::fs::write(
            &second,
            "current-context: x\ncontexts:\n- name: x\n  context: {cluster: c, user: u}\nclusters:\n- name: c\n  cluster: {server: 'https://second:2'}\n- name: d\n  cluster: {server: 'https://d:3'}\nusers:\n- name: u\n  user: {tokenFile: tok}\n",
        )
        .unwrap();
        let missing = d.path().join("missing");
        let m = Merged::load(&[missing, first.clone(), second.clone()], false).unwrap();
        let c = m.config(None, false).unwrap();
        // Cluster `c` and user `u` from the first file (its tokenFile relative to it).
        assert_eq!(c.server, "https://first:1");
        assert!(matches!(c.credentials, Credentials::Bearer(ref t) if t == "from-first"));
        // The reverse order: every name from `second`.
        let m = Merged::load(&[second.clone(), first.clone()], false).unwrap();
        let c = m.config(None, false).unwrap();
        assert_eq!(c.server, "https://second:2");
        assert!(matches!(c.credentials, Credentials::Bearer(ref t) if t == "from-second"));
        // --kubeconfig: the file must exist.
        assert!(Merged::load(&[d.path().join("missing")], true).is_err());
    }

    #[test]
    fn an_empty_kubeconfig_configures_nothing() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("empty");
        std::fs::write(&f, "").unwrap();
        assert!(Merged::load(std::slice::from_ref(&f), true)
            .unwrap()
            .is_empty());
        std::fs::write(&f, "apiVersion: v1\nkind: Config\nusers: []\n").unwrap();
        assert!(Merged::load(&[f], true).unwrap().is_empty());
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

    #[test]
    fn oversized_files_are_refused() {
        let d = tempfile::tempdir().unwrap();
        let kc = d.path().join("config");
        let f = std::fs::File::create(&kc).unwrap();
        f.set_len(MAX_FILE + 1).unwrap();
        let e = from_kubeconfig(&kc, false).unwrap_err().to_string();
        assert!(e.contains("larger than"), "{e}");
    }
}
