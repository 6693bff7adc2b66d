//! How a subcommand reaches the Kubernetes API: the flags `verify`, `status` and `prune`
//! share, each with its `LANE_*` environment form (docs/cli-contract.md), so the three read a
//! cluster the same way.

use std::path::PathBuf;
use std::time::Duration;

use super::{Client, Config, KubeError, Source};

#[derive(Debug, Clone, clap::Args)]
pub struct AccessArgs {
    /// kubeconfig file (alone: not merged with KUBECONFIG). Default, as kubectl: the
    /// KUBECONFIG list merged, else ~/.kube/config; the pod's service account only when no
    /// kubeconfig configures a cluster.
    #[arg(long, value_name = "FILE", env = "LANE_KUBECONFIG")]
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context to use instead of its current-context.
    #[arg(long, value_name = "NAME", env = "LANE_CONTEXT")]
    pub context: Option<String>,
    /// Kubernetes API server URL (https://), instead of a kubeconfig.
    #[arg(
        long,
        value_name = "URL",
        requires = "token_file",
        env = "LANE_API_SERVER"
    )]
    pub api_server: Option<String>,
    /// File holding the bearer token for --api-server (never printed).
    #[arg(
        long,
        value_name = "FILE",
        requires = "api_server",
        env = "LANE_TOKEN_FILE"
    )]
    pub token_file: Option<PathBuf>,
    /// PEM CA bundle that signs the API server's certificate (with --api-server).
    #[arg(
        long,
        value_name = "FILE",
        requires = "api_server",
        env = "LANE_CA_FILE"
    )]
    pub ca_file: Option<PathBuf>,
    /// Accept a kubeconfig cluster with insecure-skip-tls-verify (refused by default).
    #[arg(long, env = "LANE_INSECURE_SKIP_TLS_VERIFY")]
    pub insecure_skip_tls_verify: bool,
    /// Timeout of each Kubernetes API request (e.g. 10s).
    #[arg(long, value_name = "DURATION", value_parser = crate::duration::parse_duration,
          default_value = "15s", env = "LANE_REQUEST_TIMEOUT")]
    pub request_timeout: Duration,
}

impl AccessArgs {
    /// Where the API is, as the flags say.
    pub fn source(&self) -> Source {
        Source {
            kubeconfig: self.kubeconfig.clone(),
            context: self.context.clone(),
            api_server: self.api_server.clone(),
            token_file: self.token_file.clone(),
            ca_file: self.ca_file.clone(),
            allow_insecure: self.insecure_skip_tls_verify,
        }
    }

    /// The resolved connection and a client with the request timeout; the server, where its
    /// configuration came from and the kind of credentials (never their value) on stderr.
    pub fn client(&self) -> Result<(Config, Client), KubeError> {
        let cfg = self.source().resolve()?;
        crate::output::progress(format!(
            "Kubernetes API {} ({}, {})",
            cfg.server,
            cfg.origin,
            cfg.credentials.kind()
        ));
        let client = Client::new(&cfg, self.request_timeout)?;
        Ok((cfg, client))
    }
}
