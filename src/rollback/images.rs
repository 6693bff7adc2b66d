//! A rollback only restores images the registry still serves: each restored digest is asked
//! for by a manifest HEAD (src/registry), so that a garbage-collected image is refused before
//! anything is committed instead of leaving pods in ImagePullBackOff.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

use tokio::time::Instant;

use crate::model::catalog::CatalogEntry;
use crate::model::Lane;
use crate::registry::auth::CredentialStore;
use crate::registry::{is_loopback_host, Client, ClientConfig, PlainHttp, Repository};

use super::RollbackError;

/// Registry access for the check (the same flags as `lane publish`).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct RegistryArgs {
    /// Allow plain HTTP to any registry host (never for production registries). Without it,
    /// plain HTTP is used only for the lane registry when deploy.json says
    /// `lane.registry.insecure: true` and it is a loopback host.
    #[arg(long, env = "LANE_ALLOW_INSECURE")]
    pub allow_insecure: bool,
    /// Directory holding the docker `config.json` (or a Tekton docker credential workspace
    /// with `.dockerconfigjson`); default $DOCKER_CONFIG, else ~/.docker.
    #[arg(long, value_name = "DIR", env = "LANE_DOCKER_CONFIG")]
    pub docker_config: Option<PathBuf>,
    /// Deadline in seconds for the registry checks, retries included.
    #[arg(long, value_name = "SECS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub registry_timeout: u64,
}

fn plain_http(args: &RegistryArgs, lane: &Lane) -> PlainHttp {
    let reg = &lane.intent().lane.registry;
    if args.allow_insecure {
        PlainHttp::Any
    } else if reg.insecure && is_loopback_host(&reg.host) {
        PlainHttp::Hosts(BTreeSet::from([reg.host.clone()]))
    } else {
        PlainHttp::Never
    }
}

/// Refuse when any of `entries` (service, entry) is no longer in its registry.
pub fn check_present(
    args: &RegistryArgs,
    lane: &Lane,
    entries: &[(&str, &CatalogEntry)],
) -> Result<(), RollbackError> {
    if entries.is_empty() {
        return Ok(());
    }
    let creds = CredentialStore::load(args.docker_config.as_deref())
        .map_err(|e| RollbackError::Registry(crate::error::chain(&e)))?;
    let client = Client::new(ClientConfig {
        credentials: creds,
        plain_http: plain_http(args, lane),
        deadline: Instant::now() + Duration::from_secs(args.registry_timeout),
        pool: 4,
    })
    .map_err(RollbackError::from)?;
    let rt = crate::error::RuntimeError::runtime()
        .map_err(|e| RollbackError::Registry(e.to_string()))?;
    rt.block_on(async {
        for (service, e) in entries {
            let repo = Repository::parse(&e.image_repository).map_err(|err| {
                RollbackError::Registry(format!(
                    "{service}: imageRepository '{}': {err}",
                    e.image_repository
                ))
            })?;
            crate::output::progress(format!(
                "checking {}@{} in the registry",
                e.image_repository, e.digest
            ));
            match client.head_manifest(&repo, &e.digest).await? {
                Some(_) => {}
                None => {
                    return Err(RollbackError::DigestGone {
                        service: service.to_string(),
                        reference: e.pinned_image().to_string(),
                    })
                }
            }
        }
        Ok(())
    })
}
