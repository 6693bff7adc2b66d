//! `lane publish`: prove, for each image the plan publishes, the schema2/OCI digest that
//! containerd will pull, and that the image is this build of this service.
//!
//! Affected services: GET the manifest of `<repo>:<commit>` with the four pullable types in
//! `Accept`, verify `Docker-Content-Digest` against the body, refuse schema1, check the
//! provenance labels of the image config(s), confirm with a HEAD by digest. Reused services:
//! HEAD by the catalog digest. Pinned upstream images: the tag's digest, confirmed the same
//! way. Nothing is written unless every selected image passed.

mod provenance;
mod resolve;
mod results;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use crate::error::{chain, Classified, ExitClass, Failure, RuntimeError};
use crate::model::check;
use crate::model::plan::{Decision, Plan, PlannedService};
use crate::model::publish::{PublishResult, PublishedImage};
use crate::output::{progress, Outcome, Report};
use crate::registry::auth::CredentialStore;
use crate::registry::{is_loopback_host, Client, ClientConfig, PlainHttp, RegistryError};

const AFTER_HELP: &str = "\
Plain HTTP is used only for a loopback lane registry (127.0.0.0/8, ::1, localhost) whose
deploy.json says `lane.registry.insecure: true` (pass it with --deploy), or for any registry
with --allow-insecure. Everything else is HTTPS verified against the system roots.

Nothing is written (neither --out nor any Tekton result) unless every selected image passed.
Exit codes: 0 all images proven; 1 an image was rejected (missing tag, schema1 answer,
provenance mismatch, reused digest gone); 3 the registry could not be reached or refused
access; 2 usage.";

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DecisionArg {
    Affected,
    Reused,
    Pin,
}

impl DecisionArg {
    fn decision(self) -> Decision {
        match self {
            DecisionArg::Affected => Decision::Affected,
            DecisionArg::Reused => Decision::Reused,
            DecisionArg::Pin => Decision::Pin,
        }
    }
}

#[derive(Debug, Clone, clap::Args)]
#[command(after_help = AFTER_HELP)]
pub struct PublishArgs {
    /// The plan document written by `lane plan`.
    #[arg(long, value_name = "FILE", env = "LANE_PLAN")]
    pub plan: PathBuf,
    /// Only these services (default: every service the plan says to publish).
    #[arg(long = "service", value_name = "ID", num_args = 1.., env = "LANE_SERVICE")]
    pub services: Vec<String>,
    /// Which plan decisions to handle, comma-separated.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "affected,reused,pin",
        env = "LANE_DECISIONS"
    )]
    pub decisions: Vec<DecisionArg>,
    /// deploy.json of the lane: its `lane.registry.insecure: true` allows plain HTTP to the
    /// lane registry when that is a loopback host.
    #[arg(long, value_name = "FILE", env = "LANE_DEPLOY")]
    pub deploy: Option<PathBuf>,
    /// Allow plain HTTP to any registry host (never for production registries).
    #[arg(long, env = "LANE_ALLOW_INSECURE")]
    pub allow_insecure: bool,
    /// Directory holding the docker `config.json` (or a Tekton docker credential workspace
    /// with `.dockerconfigjson`); default $DOCKER_CONFIG, else ~/.docker.
    #[arg(long, value_name = "DIR", env = "LANE_DOCKER_CONFIG")]
    pub docker_config: Option<PathBuf>,
    /// Services resolved at once (a few registry requests each), over one connection pool.
    #[arg(long, value_name = "N", default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub concurrency: u16,
    /// Total deadline in seconds for all registry work, retries included.
    #[arg(long, value_name = "SECS", default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..=86400))]
    pub timeout: u64,
    /// Write the publish result (read by `promote`) here.
    #[arg(long, value_name = "FILE", env = "LANE_OUT")]
    pub out: Option<PathBuf>,
    /// Tekton result IMAGE_URL (`repo:tag`): written when exactly one image was built, else empty.
    #[arg(long, value_name = "PATH", env = "LANE_RESULT_IMAGE_URL")]
    pub result_image_url: Option<PathBuf>,
    /// Tekton result IMAGE_DIGEST (`sha256:…`): written when exactly one image was built, else empty.
    #[arg(long, value_name = "PATH", env = "LANE_RESULT_IMAGE_DIGEST")]
    pub result_image_digest: Option<PathBuf>,
    /// Tekton result IMAGES: newline-separated `repo@digest` of every image built by this run.
    #[arg(long, value_name = "PATH")]
    pub result_images: Option<PathBuf>,
    /// Tekton object result `*_ARTIFACT_OUTPUTS` (`{"uri":…,"digest":…}`) for the one built image.
    #[arg(long, value_name = "PATH")]
    pub result_artifact_outputs: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error("{service}: {detail}; image {reference}")]
    Provenance {
        service: String,
        reference: String,
        detail: String,
    },
    #[error("{service}: the reused image {reference} is gone from the registry")]
    ReusedGone { service: String, reference: String },
    #[error("{service}: the plan has no `{field}` for it")]
    PlanField {
        service: String,
        field: &'static str,
    },
    #[error("{service}: the plan decided `{decision}`; there is nothing to publish")]
    NotPublishable {
        service: String,
        decision: &'static str,
    },
    #[error("service `{service}` is not in the plan {file}")]
    UnknownService { service: String, file: String },
    #[error("lane.registry.insecure is true in {file}, but {host} is not a loopback host")]
    InsecureRemote { file: String, host: String },
}

impl Classified for PublishError {
    fn class(&self) -> ExitClass {
        match self {
            PublishError::Registry(e) => e.class(),
            PublishError::UnknownService { .. } => ExitClass::Usage,
            _ => ExitClass::Rejected,
        }
    }

    fn hint(&self) -> Option<String> {
        match self {
            PublishError::Registry(e) => e.hint(),
            PublishError::Provenance { .. } => Some(
                "the tag was pushed by another build or by hand: rebuild this service at this commit \
(the build step stamps the labels listed in docs/labels.md)"
                    .into(),
            ),
            PublishError::ReusedGone { service, .. } => Some(format!(
                "rebuild it: run `lane plan --force {service}` and let the pipeline build it again"
            )),
            PublishError::PlanField { .. } => Some("regenerate the plan with `lane plan`".into()),
            PublishError::NotPublishable { .. } | PublishError::UnknownService { .. } => {
                Some("pick services the plan marks affected, reused or pin".into())
            }
            PublishError::InsecureRemote { .. } => Some(
                "use HTTPS for a remote registry, or pass --allow-insecure to accept plain HTTP".into(),
            ),
        }
    }
}

/// Why `lane publish` wrote nothing, beyond one service's [`PublishError`].
#[derive(Debug, thiserror::Error)]
pub enum PublishRunError {
    /// Some images could not be checked (the environment failed); `report` is the whole
    /// report, for the error document's details.
    #[error("{failed} of {total} image(s) could not be checked; nothing was written: {first}")]
    Unchecked {
        failed: usize,
        total: usize,
        first: String,
        hint: Option<String>,
        report: serde_json::Value,
    },
    #[error("cannot write {path}: {message}")]
    WriteResult { path: String, message: String },
}

impl Classified for PublishRunError {
    fn class(&self) -> ExitClass {
        ExitClass::Environment
    }
    fn hint(&self) -> Option<String> {
        match self {
            PublishRunError::Unchecked { hint, .. } => hint.clone(),
            PublishRunError::WriteResult { .. } => {
                Some("check that the workspace or results directory is writable".into())
            }
        }
    }
    fn details(&self) -> Option<serde_json::Value> {
        match self {
            PublishRunError::Unchecked { report, .. } => Some(report.clone()),
            PublishRunError::WriteResult { .. } => None,
        }
    }
}

/// One service that did not pass.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Problem {
    pub service: String,
    pub class: ExitClass,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

#[derive(Debug, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PublishReport {
    pub lane: String,
    pub source_commit: crate::commit::Commit,
    pub images: Vec<PublishedImage>,
    pub problems: Vec<Problem>,
    /// Files written (none unless every image passed).
    pub written: Vec<String>,
}

impl Report for PublishReport {
    fn text(&self) -> String {
        let mut s = String::new();
        for i in &self.images {
            s.push_str(&format!(
                "{:<9} {} {}@{}\n",
                i.status.as_str(),
                i.service,
                i.repository,
                i.digest
            ));
        }
        for p in &self.problems {
            s.push_str(&format!("FAILED    {}: {}\n", p.service, p.message));
        }
        s
    }

    fn failed(&self) -> bool {
        !self.problems.is_empty()
    }
}

pub fn run(args: &PublishArgs) -> Result<Outcome, Failure> {
    let plan = read_plan(&args.plan)?;
    let selected = select(args, &plan)?;
    let plain_http = plain_http(args)?;
    let credentials =
        CredentialStore::load(args.docker_config.as_deref()).map_err(RegistryError::from)?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(args.timeout);
    progress(format!(
        "publish: {} image(s) of plan {} (commit {})",
        selected.len(),
        args.plan.display(),
        plan.source_commit
    ));
    let runtime = RuntimeError::runtime()?;
    let outcomes = runtime.block_on(async {
        // The deadline starts before the runtime so that setup time counts too.
        let client = Client::new(ClientConfig {
            credentials,
            plain_http,
            deadline,
            pool: args.concurrency as usize,
        })?;
        Ok::<_, RegistryError>(
            resolve_all(
                Arc::new(client),
                Arc::new(plan.clone()),
                selected,
                args.concurrency,
            )
            .await,
        )
    })?;

    let mut images = Vec::new();
    let mut problems = Vec::new();
    for (id, r) in outcomes {
        match r {
            Ok(i) => images.push(i),
            Err(e) => problems.push(Problem {
                service: id,
                class: e.class(),
                message: chain(&e),
                hint: e.hint(),
            }),
        }
    }
    let mut report = PublishReport {
        lane: plan.lane.clone(),
        source_commit: plan.source_commit.clone(),
        images,
        problems,
        written: Vec::new(),
    };
    if let Some(env) = report
        .problems
        .iter()
        .find(|p| p.class == ExitClass::Environment)
    {
        return Err(PublishRunError::Unchecked {
            failed: report.problems.len(),
            total: report.problems.len() + report.images.len(),
            first: env.message.clone(),
            hint: env.hint.clone(),
            report: serde_json::to_value(&report).map_err(anyhow::Error::from)?,
        }
        .into());
    }
    if report.problems.is_empty() {
        let result = PublishResult {
            schema_version: 1,
            lane: plan.lane.clone(),
            source_commit: plan.source_commit.clone(),
            images: report.images.clone(),
        };
        let paths = results::ResultPaths {
            out: args.out.clone(),
            image_url: args.result_image_url.clone(),
            image_digest: args.result_image_digest.clone(),
            images: args.result_images.clone(),
            artifact_outputs: args.result_artifact_outputs.clone(),
        };
        report.written =
            results::write_all(&paths, &result).map_err(|(p, e)| PublishRunError::WriteResult {
                path: p.display().to_string(),
                message: e.to_string(),
            })?;
    } else {
        progress(format!(
            "publish: {} image(s) rejected; nothing was written",
            report.problems.len()
        ));
    }
    Outcome::of(&report)
}

fn read_plan(path: &std::path::Path) -> Result<Plan, Failure> {
    let file = path.display().to_string();
    let bytes = check::read_limited(path)?;
    let value = check::parse_json(&bytes, &file)?;
    Ok(check::from_value::<Plan>(value, &file)?)
}

fn select(args: &PublishArgs, plan: &Plan) -> Result<Vec<PlannedService>, Failure> {
    let decisions: BTreeSet<Decision> = args.decisions.iter().map(|d| d.decision()).collect();
    for id in &args.services {
        let svc = plan
            .service(id)
            .ok_or_else(|| PublishError::UnknownService {
                service: id.clone(),
                file: args.plan.display().to_string(),
            })?;
        if !matches!(
            svc.decision,
            Decision::Affected | Decision::Reused | Decision::Pin
        ) {
            return Err(PublishError::NotPublishable {
                service: id.clone(),
                decision: svc.decision.as_str(),
            }
            .into());
        }
    }
    Ok(plan
        .services
        .iter()
        .filter(|s| decisions.contains(&s.decision))
        .filter(|s| args.services.is_empty() || args.services.iter().any(|id| s.id == *id))
        .cloned()
        .collect())
}

fn plain_http(args: &PublishArgs) -> Result<PlainHttp, Failure> {
    if args.allow_insecure {
        return Ok(PlainHttp::Any);
    }
    let Some(deploy) = &args.deploy else {
        return Ok(PlainHttp::Never);
    };
    let intent = check::load_intent(deploy, None)?;
    let reg = &intent.lane.registry;
    if !reg.insecure {
        return Ok(PlainHttp::Never);
    }
    if !is_loopback_host(&reg.host) {
        return Err(PublishError::InsecureRemote {
            file: deploy.display().to_string(),
            host: reg.host.clone(),
        }
        .into());
    }
    Ok(PlainHttp::Hosts(BTreeSet::from([reg.host.clone()])))
}

/// Resolve every service, at most `concurrency` at once, results in plan order.
async fn resolve_all(
    client: Arc<Client>,
    plan: Arc<Plan>,
    services: Vec<PlannedService>,
    concurrency: u16,
) -> Vec<(String, Result<PublishedImage, PublishError>)> {
    let permits = Arc::new(tokio::sync::Semaphore::new(concurrency as usize));
    let mut set = tokio::task::JoinSet::new();
    for (i, svc) in services.into_iter().enumerate() {
        let (client, plan, permits) = (client.clone(), plan.clone(), permits.clone());
        set.spawn(async move {
            let _permit = permits.acquire_owned().await.expect("semaphore open");
            let r = resolve::resolve(&client, &plan, &svc).await;
            (i, svc.id, r)
        });
    }
    let mut out = Vec::new();
    while let Some(joined) = set.join_next().await {
        match joined {
            Ok(x) => out.push(x),
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        }
    }
    out.sort_by_key(|(i, _, _)| *i);
    out.into_iter()
        .map(|(_, id, r)| (id.to_string(), r))
        .collect()
}
