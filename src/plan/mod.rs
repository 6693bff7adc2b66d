//! `lane plan`: decide per service whether it must be built (affected), keeps its catalog image
//! (reused), is an upstream image to pin, is excluded, or is unsupported (docs/architecture.md,
//! "Plan decisions").
//!
//! Reads only: the source commit's tree (deploy.json, build contexts) and the GitOps branch's
//! catalog. The only write to the repository is the fetch of the GitOps branch into
//! `refs/lane/gitops/<branch>` when `--gitops-remote` is given.

pub mod decide;
pub mod fingerprint;
pub mod results;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::commit::Commit;
use crate::error::{Classified, ExitClass, Failure};
use crate::git::gitops::{self, GitopsArgs};
use crate::git::{GitError, Repo};
use crate::model::catalog_at::{self, CatalogAtError};
use crate::model::intent::ImageSource;
use crate::model::plan::{Plan, PlanCounts};
use crate::model::{Catalog, InputError, Lane, LaneAtError, DEPLOY_PATH};
use crate::output::{progress, Outcome, Report};

/// Version of the plan document.
pub const PLAN_SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Clone, clap::Args)]
#[command(after_help = "\
Decisions: affected (build this commit), reused (build inputs unchanged: keep the catalog's \
image and digest), pin (image-only upstream service, resolved by publish), excluded \
(enabled: false), unsupported (nothing to build or pin: exit 1). The build fingerprint rule \
is in docs/fingerprint.md.")]
pub struct PlanArgs {
    /// The source repository (worktree or bare). It is only read.
    #[arg(long, value_name = "DIR", default_value = ".", env = "LANE_REPO")]
    pub repo: PathBuf,
    /// Source commit: full or short SHA, branch or tag. Resolved to the full 40-hex commit; a
    /// short SHA that matches nothing or more than one object is an error.
    #[arg(long, value_name = "REV", default_value = "HEAD", env = "LANE_COMMIT")]
    pub commit: String,
    /// deploy.json from disk. Default: `deploy/deploy.json` in the source commit's tree.
    #[arg(long, value_name = "FILE")]
    pub deploy: Option<PathBuf>,
    #[command(flatten)]
    pub gitops: GitopsArgs,
    /// A catalog file instead of the one on the GitOps branch (checked against the lane).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["init", "gitops_remote", "gitops_ref"])]
    pub catalog: Option<PathBuf>,
    /// Initialise the lane: there is no catalog yet, plan every built service as affected.
    /// Refused when the lane already has a catalog.
    #[arg(long, env = "LANE_INIT")]
    pub init: bool,
    /// Build this service even if its fingerprint is unchanged (repeatable).
    #[arg(long, value_name = "SERVICE", env = "LANE_FORCE")]
    pub force: Vec<String>,
    /// Write the plan document here too (atomically), for the workspace.
    #[arg(long, value_name = "FILE", env = "LANE_OUT")]
    pub out: Option<PathBuf>,
    /// Tekton result: JSON array of the affected service ids (compact, for a matrix).
    #[arg(long, value_name = "PATH", env = "LANE_RESULT_AFFECTED")]
    pub result_affected: Option<PathBuf>,
    /// Tekton result: the counts per decision as a compact JSON object.
    #[arg(long, value_name = "PATH", env = "LANE_RESULT_COUNTS")]
    pub result_counts: Option<PathBuf>,
    /// Tekton result: the full 40-hex source commit.
    #[arg(long, value_name = "PATH", env = "LANE_RESULT_COMMIT")]
    pub result_commit: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error(
        "lane {lane} has no artifact catalog: {why}; the lane must be initialised once with \
         `lane plan --init` (nothing falls back to another branch, lane or the source branch)"
    )]
    NotInitialised { lane: String, why: String },
    #[error(
        "lane {lane} is already initialised: {gitops_branch}:{catalog_path} exists at {commit}; \
         --init only starts a lane that has no catalog"
    )]
    AlreadyInitialised {
        lane: String,
        gitops_branch: String,
        catalog_path: String,
        commit: String,
    },
    #[error("--force {service}: no service '{service}' in deploy.json (services: {known})")]
    UnknownForce { service: String, known: String },
    #[error("--force {service}: the service is {what}, so there is nothing to build")]
    ForceNotBuilt { service: String, what: &'static str },
    #[error("{path} does not exist in commit {commit}")]
    NoDeploy { path: String, commit: String },
    #[error(
        "the Tekton results take {size} bytes of the step's termination message; the budget is \
         {budget} of Kubernetes' {limit}-byte limit ({affected} affected service ids)"
    )]
    ResultsTooLarge {
        size: usize,
        budget: usize,
        limit: usize,
        affected: usize,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Inputs(#[from] fingerprint::InputsError),
    #[error(transparent)]
    Git(#[from] GitError),
    #[error(transparent)]
    CatalogAt(#[from] CatalogAtError),
    #[error(transparent)]
    Input(#[from] InputError),
}

impl Classified for PlanError {
    fn class(&self) -> ExitClass {
        match self {
            PlanError::UnknownForce { .. } | PlanError::ForceNotBuilt { .. } => ExitClass::Usage,
            PlanError::Write { .. } => ExitClass::Environment,
            PlanError::Inputs(fingerprint::InputsError::Git(e)) | PlanError::Git(e) => e.class(),
            PlanError::CatalogAt(e) => e.class(),
            PlanError::Input(e) => e.class(),
            _ => ExitClass::Rejected,
        }
    }
    fn hint(&self) -> Option<String> {
        match self {
            PlanError::NotInitialised { .. } => Some(
                "run `lane plan --init` once for this lane (then publish and promote create the \
                 catalog on the GitOps branch); check --gitops-remote/--gitops-ref if the lane \
                 was initialised already"
                    .into(),
            ),
            PlanError::AlreadyInitialised { .. } => {
                Some("run `lane plan` without --init; use --force SERVICE to rebuild".into())
            }
            PlanError::UnknownForce { .. } | PlanError::ForceNotBuilt { .. } => {
                Some("pass the id of an enabled service that has a build section".into())
            }
            PlanError::NoDeploy { .. } => {
                Some("commit deploy/deploy.json to the source branch, or pass --deploy FILE".into())
            }
            PlanError::ResultsTooLarge { .. } => Some(
                "the full plan is in the --out file; shorten service ids or split the lane so \
                 that the affected ids fit a Tekton result"
                    .into(),
            ),
            PlanError::Inputs(fingerprint::InputsError::Git(e)) | PlanError::Git(e) => e.hint(),
            PlanError::Inputs(_) => Some(
                "fix build.context/build.dockerfile in deploy.json or commit the missing path"
                    .into(),
            ),
            PlanError::CatalogAt(e) => e.hint(),
            PlanError::Input(e) => e.hint(),
            PlanError::Write { .. } => Some("check the path and permissions".into()),
        }
    }
    fn details(&self) -> Option<serde_json::Value> {
        match self {
            PlanError::CatalogAt(e) => e.details(),
            PlanError::Input(e) => e.details(),
            _ => None,
        }
    }
}

impl Report for Plan {
    fn text(&self) -> String {
        let c = &self.counts;
        let mut s = format!(
            "plan {} at {}: {} affected, {} reused, {} pin, {} excluded, {} unsupported\n",
            self.lane, self.source_commit, c.affected, c.reused, c.pin, c.excluded, c.unsupported
        );
        for p in &self.services {
            s.push_str(&format!(
                "  {:28} {:11} {}\n",
                p.id,
                p.decision.as_str(),
                p.reason
            ));
        }
        s
    }
    fn failed(&self) -> bool {
        self.counts.unsupported > 0
    }
}

pub fn run(args: &PlanArgs) -> Result<Outcome, Failure> {
    let plan = make_plan(args)?;
    write_outputs(args, &plan)?;
    if plan.counts.unsupported > 0 {
        progress("plan: some services are unsupported (nothing to build or pin)");
    }
    Outcome::of(&plan)
}

/// Everything but the writes: the plan for `args`.
pub fn make_plan(args: &PlanArgs) -> Result<Plan, PlanError> {
    args.gitops.check()?;
    let repo = Repo::open(&args.repo)?;
    let commit = repo.resolve_commit(&args.commit)?;
    progress(format!("plan: source commit {commit}"));
    let lane = load_lane(&repo, &commit, args.deploy.as_deref())?;
    let forced = check_forced(&lane, &args.force)?;
    let previous = previous_catalog(&repo, &lane, args)?;
    let (catalog, gitops_commit) = match &previous {
        Previous::Catalog { catalog, gitops } => (Some(catalog), gitops.clone()),
        Previous::None { gitops } => (None, gitops.clone()),
    };
    let spec = &lane.intent().lane;
    let mut services = Vec::with_capacity(lane.intent().services.len());
    for s in &lane.intent().services {
        let planned = if !s.enabled {
            decide::excluded(s, spec)
        } else {
            match s.source() {
                ImageSource::Unsupported => decide::unsupported(s),
                ImageSource::Upstream(u) => decide::pin(s, spec, u),
                ImageSource::Build(b) => {
                    let inputs = fingerprint::build_inputs(&repo, &commit, &s.id, b)?;
                    decide::built(
                        s,
                        spec,
                        decide::BuildFacts {
                            build: b,
                            fingerprint: fingerprint::fingerprint(&s.id, &inputs, b),
                            entry: catalog.and_then(|c| c.services.get(s.id.as_str())),
                            forced: forced.contains(s.id.as_str()),
                            init: args.init,
                            commit: &commit,
                        },
                    )
                }
            }
        };
        services.push(planned);
    }
    let counts = PlanCounts::of(&services);
    progress(format!(
        "plan: {} affected, {} reused, {} pin, {} excluded, {} unsupported",
        counts.affected, counts.reused, counts.pin, counts.excluded, counts.unsupported
    ));
    let names = &lane.names;
    Ok(Plan {
        schema_version: PLAN_SCHEMA_VERSION,
        lane: names.version.to_string(),
        source_repo: names.source_repo.clone(),
        source_branch: names.source_branch.to_string(),
        gitops_branch: names.gitops_branch.to_string(),
        source_commit: commit,
        gitops_commit,
        catalog_source_commit: catalog.map(|c| c.source_commit.clone()),
        init: args.init,
        services,
        counts,
    })
}

fn load_lane(repo: &Repo, commit: &str, deploy: Option<&Path>) -> Result<Lane, PlanError> {
    if let Some(path) = deploy {
        // The working tree need not match the commit, so paths are checked in git, not on disk.
        return Ok(Lane::load(path, None)?);
    }
    Lane::at_commit(repo, commit).map_err(|e| match e {
        LaneAtError::Read { source, .. } => source.into(),
        LaneAtError::Missing { .. } => PlanError::NoDeploy {
            path: DEPLOY_PATH.into(),
            commit: commit.into(),
        },
        LaneAtError::Invalid(e) => e.into(),
    })
}

fn check_forced<'a>(lane: &Lane, force: &'a [String]) -> Result<BTreeSet<&'a str>, PlanError> {
    for id in force {
        let Some(s) = lane.intent().service(id) else {
            let known: Vec<&str> = lane
                .intent()
                .services
                .iter()
                .map(|s| s.id.as_str())
                .collect();
            return Err(PlanError::UnknownForce {
                service: id.clone(),
                known: known.join(", "),
            });
        };
        let what = if !s.enabled {
            "excluded (enabled: false)"
        } else {
            match s.source() {
                ImageSource::Build(_) => continue,
                ImageSource::Upstream(_) => "an upstream image (always re-resolved by publish)",
                ImageSource::Unsupported => "unsupported (no build or upstream)",
            }
        };
        return Err(PlanError::ForceNotBuilt {
            service: id.clone(),
            what,
        });
    }
    Ok(force.iter().map(String::as_str).collect())
}

enum Previous {
    Catalog {
        catalog: Catalog,
        gitops: Option<Commit>,
    },
    /// Only on `--init`: the lane has no catalog yet.
    None { gitops: Option<Commit> },
}

fn previous_catalog(repo: &Repo, lane: &Lane, args: &PlanArgs) -> Result<Previous, PlanError> {
    let names = &lane.names;
    if let Some(file) = &args.catalog {
        let catalog = catalog_at::catalog_file(file, names)?;
        return Ok(Previous::Catalog {
            catalog,
            gitops: None,
        });
    }
    let head = gitops::head(repo, &names.gitops_branch, &args.gitops)?;
    let (catalog, why) = match &head {
        None => (
            None,
            format!("the GitOps branch {} does not exist", names.gitops_branch),
        ),
        Some(h) => {
            progress(format!(
                "plan: reading {} from {} at {}",
                names.catalog_path, h.git_ref, h.commit
            ));
            (
                catalog_at::catalog_at(repo, names, h)?,
                format!(
                    "{} has no {} at {}",
                    h.git_ref, names.catalog_path, h.commit
                ),
            )
        }
    };
    let gitops_commit = head.as_ref().map(|h| h.commit.clone());
    match (catalog, args.init) {
        (Some(catalog), false) => Ok(Previous::Catalog {
            catalog,
            gitops: gitops_commit,
        }),
        (None, true) => Ok(Previous::None {
            gitops: gitops_commit,
        }),
        (None, false) => Err(PlanError::NotInitialised {
            lane: names.version.to_string(),
            why,
        }),
        (Some(_), true) => Err(PlanError::AlreadyInitialised {
            lane: names.version.to_string(),
            gitops_branch: names.gitops_branch.to_string(),
            catalog_path: names.catalog_path.to_string(),
            commit: gitops_commit.map(String::from).unwrap_or_default(),
        }),
    }
}

/// Check the result budget first, then write the plan file and the results; nothing is
/// written when the results would not fit.
fn write_outputs(args: &PlanArgs, plan: &Plan) -> Result<(), PlanError> {
    let files = results::collect(
        plan,
        args.result_affected.as_deref(),
        args.result_counts.as_deref(),
        args.result_commit.as_deref(),
    );
    let size = results::termination_message_size(&files);
    if !files.is_empty() && size > results::budget() {
        return Err(PlanError::ResultsTooLarge {
            size,
            budget: results::budget(),
            limit: results::TERMINATION_MESSAGE_LIMIT,
            affected: plan.counts.affected,
        });
    }
    let write_err = |path: &Path| {
        let path = path.display().to_string();
        move |source| PlanError::Write { path, source }
    };
    if let Some(out) = &args.out {
        crate::fsutil::write_json_atomic(out, plan).map_err(write_err(out))?;
    }
    for r in &files {
        crate::fsutil::write_atomic(&r.path, r.value.as_bytes()).map_err(write_err(&r.path))?;
    }
    Ok(())
}
