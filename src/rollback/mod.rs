//! `lane rollback`: return one service, or the whole lane, to an earlier release on purpose.
//!
//! The earlier release is a commit of the GitOps branch's history (`--to`). With `--service`
//! the named services get their entries from that commit's catalog (status `rolled-back`)
//! and the deploy intent stays the current one; without it the whole lane gets that commit's
//! catalog and deploy intent back. Either way the new commit goes through promote's
//! compare-and-swap (a scratch repository, a lease-guarded push, redone on the new tip when
//! another run moved the branch), never touches the source branch, and records both ends
//! and who asked in the catalog and in `Lane-Rollback-*` trailers. A restored digest the
//! registry no longer serves is refused. See docs/rollback.md.

pub mod images;
mod message;
pub mod plan;

use std::path::PathBuf;

use serde::Serialize;

use crate::commit::Commit;
use crate::error::{Classified, ExitClass, Failure};
use crate::git::gitops::GitopsHead;
use crate::git::remote::Remote;
use crate::git::scratch::{Scratch, ScratchError};
use crate::git::write::Replace;
use crate::git::{GitError, Repo};
use crate::model::catalog::{rollback_text_problem, CatalogDoc, ReleaseRef};
use crate::model::catalog_at::{catalog_at, CatalogAtError};
use crate::model::{check, rules, Lane};
use crate::output::{progress, Outcome, Report};
use crate::promote::{self, credentials, PromoteError, Pushed};
use plan::{PlanProblem, ServiceChange, ServiceRollback};

#[derive(Debug, Clone, clap::Args)]
pub struct RollbackArgs {
    /// The release to return to: a commit of the GitOps branch's history (full or short SHA,
    /// or a revision such as `v0.1-gitops~1`, resolved in the fetched GitOps history).
    #[arg(long, value_name = "REV", env = "LANE_ROLLBACK_TO")]
    pub to: String,
    /// Roll back only these services (comma-separated or repeated) to their entries in
    /// --to's catalog; the deploy intent stays the current one. Default: the whole lane
    /// (--to's catalog and deploy intent).
    #[arg(
        long = "service",
        value_name = "ID",
        value_delimiter = ',',
        env = "LANE_SERVICE"
    )]
    pub services: Vec<String>,
    /// Who asked for the rollback (one line, at most 256 characters), recorded in the catalog
    /// and the commit trailers. Default: `GIT_COMMITTER_NAME <GIT_COMMITTER_EMAIL>`, else
    /// `$USER`.
    #[arg(long, value_name = "WHO", env = "LANE_REQUESTED_BY")]
    pub requested_by: Option<String>,
    /// Why (one line, at most 256 characters), recorded likewise.
    #[arg(long, value_name = "TEXT", env = "LANE_REASON")]
    pub reason: Option<String>,
    /// Source repository (worktree or bare), only read: the lane names (deploy.json at
    /// --commit), the deploy intents of both releases, and the objects the throwaway GitOps
    /// repository borrows.
    #[arg(long, value_name = "DIR", default_value = ".", env = "LANE_REPO")]
    pub repo: PathBuf,
    /// Source commit whose deploy.json names the lane (its GitOps branch, remote and paths).
    #[arg(long, value_name = "REV", default_value = "HEAD", env = "LANE_COMMIT")]
    pub commit: String,
    /// GitOps remote to fetch from and push to; default: the lane's `gitopsRepo` (else its
    /// `sourceRepo`).
    #[arg(
        long,
        value_name = "URL",
        env = "LANE_GITOPS_REMOTE",
        hide_env_values = true
    )]
    pub gitops_remote: Option<String>,
    /// Pushes at most when other runs keep moving the GitOps branch first.
    #[arg(long, value_name = "N", default_value_t = 12, value_parser = clap::value_parser!(u32).range(1..=50), env = "LANE_MAX_ATTEMPTS")]
    pub max_attempts: u32,
    /// Write the GitOps commit (new, or current on a noop) to PATH (a Tekton result).
    #[arg(long, value_name = "PATH", env = "LANE_RESULT_COMMIT")]
    pub result_commit: Option<PathBuf>,
    #[command(flatten)]
    pub registry: images::RegistryArgs,
    #[command(flatten)]
    pub credentials: credentials::CredentialArgs,
}

#[derive(Debug, thiserror::Error)]
pub enum RollbackError {
    #[error("--to {to} is not a commit of the GitOps branch '{branch}' (its history up to {tip})")]
    NotInHistory {
        to: String,
        branch: String,
        tip: String,
    },
    #[error(
        "the GitOps commit {commit} has no catalog at {path}: there is no release to return to"
    )]
    NoTargetCatalog { commit: String, path: String },
    #[error("service '{0}' has no entry in the catalog of --to")]
    NotInTarget(String),
    #[error("service '{0}' has no entry in the current catalog (the current deploy intent does not declare it)")]
    NotCurrent(String),
    #[error("service '{service}' changed kind since --to: its earlier entry does not fit the current deploy intent")]
    KindChanged { service: String },
    #[error("the lane's names differ between the restored release (deploy.json at {restored}) and the current one")]
    NamesChanged { restored: String },
    #[error("{service}: {reference} is gone from the registry; refusing to roll back to an image that cannot be pulled")]
    DigestGone { service: String, reference: String },
    #[error("registry: {0}")]
    Registry(String),
    #[error("{flag}: {why}")]
    Text {
        flag: &'static str,
        why: &'static str,
    },
    #[error("no one to record as having asked: pass --requested-by")]
    NoRequester,
    #[error(transparent)]
    RegistryAccess(#[from] crate::registry::RegistryError),
    #[error(transparent)]
    Promote(#[from] PromoteError),
}

impl From<GitError> for RollbackError {
    fn from(e: GitError) -> Self {
        RollbackError::Promote(e.into())
    }
}

impl From<CatalogAtError> for RollbackError {
    fn from(e: CatalogAtError) -> Self {
        RollbackError::Promote(e.into())
    }
}

impl From<ScratchError> for RollbackError {
    fn from(e: ScratchError) -> Self {
        RollbackError::Promote(e.into())
    }
}

impl Classified for RollbackError {
    fn class(&self) -> ExitClass {
        match self {
            RollbackError::Promote(e) => e.class(),
            RollbackError::RegistryAccess(e) => e.class(),
            RollbackError::Registry(_) => ExitClass::Environment,
            RollbackError::Text { .. } | RollbackError::NoRequester => ExitClass::Usage,
            _ => ExitClass::Rejected,
        }
    }
    fn hint(&self) -> Option<String> {
        Some(match self {
            RollbackError::NotInHistory { .. } => {
                "pass a commit of the GitOps branch (git log <gitops branch>; the Lane-Source-Commit trailers name each release's source commit)".into()
            }
            RollbackError::NoTargetCatalog { .. } => {
                "pick a GitOps commit made by lane promote (one after the lane's initialisation)".into()
            }
            RollbackError::NotInTarget(_) | RollbackError::NotCurrent(_) => {
                "roll back the whole lane (drop --service), or pick a --to that has the service".into()
            }
            RollbackError::KindChanged { .. } | RollbackError::NamesChanged { .. } => {
                "roll back with a new commit on the source branch instead (git revert), so the deploy intent and the image agree".into()
            }
            RollbackError::DigestGone { .. } => {
                "pick an earlier release whose image is still in the registry, or rebuild it from its source commit; nothing was pushed".into()
            }
            RollbackError::Registry(_) => {
                "check the registry and --docker-config; nothing was pushed".into()
            }
            RollbackError::Text { .. } | RollbackError::NoRequester => {
                "one printable line of at most 256 characters".into()
            }
            RollbackError::RegistryAccess(e) => return e.hint(),
            RollbackError::Promote(e) => return e.hint(),
        })
    }
    fn details(&self) -> Option<serde_json::Value> {
        match self {
            RollbackError::Promote(e) => e.details(),
            _ => None,
        }
    }
}

impl From<PlanProblem> for RollbackError {
    fn from(p: PlanProblem) -> Self {
        match p {
            PlanProblem::NotInTarget(s) => RollbackError::NotInTarget(s),
            PlanProblem::NotCurrent(s) => RollbackError::NotCurrent(s),
            PlanProblem::KindChanged { service } => RollbackError::KindChanged { service },
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum RollbackOutcome {
    Committed,
    /// The release asked for is what the branch holds already.
    Noop,
}

#[derive(Debug, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RollbackReport {
    pub outcome: RollbackOutcome,
    pub lane: String,
    pub gitops_branch: String,
    /// `lane` or `services`.
    pub scope: String,
    /// What the branch held before (the tip this rollback was built on).
    pub from: ReleaseRef,
    /// The release returned to.
    pub to: ReleaseRef,
    /// The source commit whose deploy intent the tree is rendered from now.
    pub intent_commit: Commit,
    /// The GitOps commit now at the tip (the new one, or the current one on a noop).
    pub commit: Commit,
    pub previous_commit: Commit,
    pub requested_by: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub attempts: u32,
    pub changed_paths: Vec<String>,
    pub services: Vec<ServiceRollback>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signed_by: Option<String>,
}

impl Report for RollbackReport {
    fn text(&self) -> String {
        let mut s = format!(
            "{} {} on {}: {} rolled back to GitOps {} (source {}), from {} ({} attempt(s))\n",
            match self.outcome {
                RollbackOutcome::Committed => "committed",
                RollbackOutcome::Noop => "noop",
            },
            self.commit,
            self.gitops_branch,
            self.scope,
            self.to.gitops_commit,
            self.to.source_commit,
            self.from.gitops_commit,
            self.attempts
        );
        for r in &self.services {
            s.push_str(&format!(
                "  {:24} {:?} {} -> {}\n",
                r.service,
                r.change,
                r.from_digest.as_deref().unwrap_or("-"),
                r.to_digest.as_deref().unwrap_or("-")
            ));
        }
        s
    }
}

/// Everything fixed for the whole rollback.
struct RollbackRun<'a> {
    repo: &'a Repo,
    lane: &'a Lane,
    remote: &'a Remote,
    args: &'a RollbackArgs,
    requested_by: String,
    now: String,
    unix_now: i64,
    signer: Option<&'a crate::git::sign::SigningKey>,
}

pub fn run(args: &RollbackArgs) -> Result<Outcome, Failure> {
    let report = rollback(args)?;
    if let Some(p) = &args.result_commit {
        crate::fsutil::write_atomic(p, report.commit.as_bytes()).map_err(|e| {
            RollbackError::Promote(PromoteError::Write {
                path: p.display().to_string(),
                message: e.to_string(),
            })
        })?;
    }
    Outcome::of(&report)
}

fn requested_by(args: &RollbackArgs) -> Result<String, RollbackError> {
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
    let who = match &args.requested_by {
        Some(w) => w.clone(),
        None => match (var("GIT_COMMITTER_NAME"), var("GIT_COMMITTER_EMAIL")) {
            (Some(n), Some(e)) => format!("{n} <{e}>"),
            (Some(n), None) => n,
            _ => var("USER").ok_or(RollbackError::NoRequester)?,
        },
    };
    if let Some(why) = rollback_text_problem(&who) {
        return Err(RollbackError::Text {
            flag: "--requested-by",
            why,
        });
    }
    Ok(who)
}

fn rollback(args: &RollbackArgs) -> Result<RollbackReport, RollbackError> {
    if let Some(r) = &args.gitops_remote {
        Remote::parse_named("--gitops-remote", r)?;
    }
    crate::git::cli::positional(&args.to)?;
    for s in &args.services {
        if !rules::is_dns1123_label(s) {
            return Err(RollbackError::NotCurrent(s.clone()));
        }
    }
    let who = requested_by(args)?;
    if let Some(why) = args.reason.as_deref().and_then(rollback_text_problem) {
        return Err(RollbackError::Text {
            flag: "--reason",
            why,
        });
    }
    let _creds = credentials::apply(&args.credentials)?;
    let signer = credentials::signing_key(&args.credentials)?;
    let repo = Repo::open(&args.repo)?;
    let commit = repo.resolve_commit(&args.commit)?;
    let lane = promote::lane_at(&repo, &commit)?;
    let names = &lane.names;
    promote::refuse_source_branch(names)?;
    let remote = promote::gitops_remote(names, args.gitops_remote.as_deref())?;
    let unix_now = rules::now_unix();
    let ctx = RollbackRun {
        repo: &repo,
        lane: &lane,
        remote: &remote,
        args,
        requested_by: who,
        now: rules::format_rfc3339(unix_now),
        unix_now,
        signer: signer.as_ref(),
    };
    progress(format!(
        "rolling back {} of lane {} to GitOps {}",
        if args.services.is_empty() {
            "the whole lane".to_string()
        } else {
            args.services.join(", ")
        },
        names.version,
        args.to
    ));
    let mut pushes = 0u32;
    loop {
        let attempt = prepare(&ctx)?;
        let Some(built) = attempt.built else {
            progress("the branch already holds that release: no commit (noop)");
            return Ok(report(&ctx, attempt.done, RollbackOutcome::Noop, pushes));
        };
        pushes += 1;
        let old = attempt.done.previous.clone();
        match promote::push_guarded(
            &built.scratch.dir,
            ctx.remote,
            &built.commit,
            &names.gitops_ref(),
            Some(&old),
            &names.gitops_branch,
        )? {
            Pushed::Landed => {
                progress(format!(
                    "pushed {} to {}",
                    built.commit, names.gitops_branch
                ));
                let mut done = attempt.done;
                done.commit = built.commit;
                done.changed = built.changed;
                return Ok(report(&ctx, done, RollbackOutcome::Committed, pushes));
            }
            Pushed::Raced(reason) => {
                if pushes >= args.max_attempts {
                    return Err(PromoteError::Exhausted {
                        branch: names.gitops_branch.to_string(),
                        attempts: pushes,
                        last: reason,
                    }
                    .into());
                }
                // Redone on the new tip: what it rolls back from is what is there now.
                promote::wait_before_retry(pushes + 1, args.max_attempts, &reason);
            }
        }
    }
}

/// What an attempt decided (pushed or not).
struct Decided {
    scope: &'static str,
    from: ReleaseRef,
    to: ReleaseRef,
    intent_commit: Commit,
    previous: Commit,
    commit: Commit,
    changed: Vec<String>,
    services: Vec<ServiceRollback>,
}

struct Built {
    scratch: Scratch,
    commit: Commit,
    changed: Vec<String>,
}

struct Attempt {
    done: Decided,
    built: Option<Built>,
}

fn report(
    ctx: &RollbackRun<'_>,
    d: Decided,
    outcome: RollbackOutcome,
    attempts: u32,
) -> RollbackReport {
    let n = &ctx.lane.names;
    RollbackReport {
        outcome,
        lane: n.version.to_string(),
        gitops_branch: n.gitops_branch.to_string(),
        scope: d.scope.to_string(),
        from: d.from,
        to: d.to,
        intent_commit: d.intent_commit,
        commit: d.commit,
        previous_commit: d.previous,
        requested_by: ctx.requested_by.clone(),
        reason: ctx.args.reason.clone(),
        attempts,
        changed_paths: d.changed,
        services: d.services,
        signed_by: match (outcome, ctx.signer) {
            (RollbackOutcome::Committed, Some(k)) => Some(k.fingerprint.clone()),
            _ => None,
        },
    }
}

/// Fetch the GitOps history, plan the rollback on its tip, check the restored images and
/// build the commit (not pushed).
fn prepare(ctx: &RollbackRun<'_>) -> Result<Attempt, RollbackError> {
    let names = &ctx.lane.names;
    let scratch = Scratch::new(ctx.repo)?;
    let head: GitopsHead = scratch
        .fetch(&names.gitops_branch, ctx.remote, false)?
        .ok_or_else(|| PromoteError::NoCatalog {
            branch: names.gitops_branch.to_string(),
            path: names.catalog_path.to_string(),
        })?;
    let g = &scratch.repo;
    let current = catalog_at(g, names, &head)?.ok_or_else(|| PromoteError::NoCatalog {
        branch: names.gitops_branch.to_string(),
        path: names.catalog_path.to_string(),
    })?;
    let to = resolve_to(g, &ctx.args.to)
        .ok()
        .filter(|c| g.is_ancestor(c, &head.commit).unwrap_or(false))
        .ok_or_else(|| RollbackError::NotInHistory {
            to: ctx.args.to.clone(),
            branch: names.gitops_branch.to_string(),
            tip: head.commit.to_string(),
        })?;
    let to_head = GitopsHead {
        git_ref: names.gitops_ref(),
        commit: to.clone(),
    };
    let target = catalog_at(g, names, &to_head)?.ok_or_else(|| RollbackError::NoTargetCatalog {
        commit: to.to_string(),
        path: names.catalog_path.to_string(),
    })?;
    let from_gitops = head.commit.clone();
    let to_gitops = to;
    let req = plan::Request {
        requested_by: &ctx.requested_by,
        reason: ctx.args.reason.as_deref(),
        now: &ctx.now,
        from_gitops: &from_gitops,
        to_gitops: &to_gitops,
    };
    let (scope, (next, services)) = if ctx.args.services.is_empty() {
        ("lane", plan::lane(&current, &target, &req))
    } else {
        (
            "services",
            plan::services(&current, &target, &ctx.args.services, &req)?,
        )
    };
    // The tree is rendered from the deploy intent the new catalog records.
    promote::ensure_commit(ctx.repo, "(catalog)", &next.source_commit)?;
    let intent_lane = promote::lane_at(ctx.repo, &next.source_commit)?;
    if intent_lane.names != ctx.lane.names {
        return Err(RollbackError::NamesChanged {
            restored: next.source_commit.to_string(),
        });
    }
    let decided = Decided {
        scope,
        from: ReleaseRef {
            source_commit: current.newest_commit().clone(),
            gitops_commit: from_gitops.clone(),
        },
        to: ReleaseRef {
            source_commit: target.source_commit.clone(),
            gitops_commit: to_gitops.clone(),
        },
        intent_commit: next.source_commit.clone(),
        previous: head.commit.clone(),
        commit: head.commit.clone(),
        changed: vec![],
        services,
    };
    let restored: Vec<(&str, &crate::model::catalog::CatalogEntry)> = decided
        .services
        .iter()
        .filter(|s| {
            matches!(
                s.change,
                ServiceChange::RolledBack | ServiceChange::Restored
            )
        })
        .filter_map(|s| {
            next.services
                .get(&s.service)
                .map(|e| (s.service.as_str(), e))
        })
        .collect();
    images::check_present(&ctx.args.registry, &intent_lane, &restored)?;
    let built = build(ctx, scratch, &head, &intent_lane, &next, &decided)?;
    Ok(Attempt {
        done: decided,
        built,
    })
}

/// `--to`: a commit, short SHA or ref resolved strictly, optionally followed by `~N` (N
/// first parents back, as in git; at most 10000), the one revision expression the GitOps
/// history needs ("the release before").
fn resolve_to(g: &Repo, spec: &str) -> Result<Commit, GitError> {
    let (base, back) = match spec.rsplit_once('~') {
        Some((b, n)) if !b.is_empty() && n.len() <= 5 => {
            let n: u32 = if n.is_empty() {
                1
            } else {
                n.parse()
                    .map_err(|_| GitError::BadSpec { spec: spec.into() })?
            };
            (b, n)
        }
        _ => (spec, 0),
    };
    let mut id = g.resolve_commit(base)?;
    for _ in 0..back.min(10_000) {
        let oid =
            gix::ObjectId::from_hex(id.as_bytes()).map_err(|e| GitError::Object(e.to_string()))?;
        let commit = g
            .gix()
            .find_commit(oid)
            .map_err(|e| GitError::Object(e.to_string()))?;
        id = crate::git::commit_id(
            &commit
                .parent_ids()
                .next()
                .ok_or_else(|| GitError::NotFound {
                    spec: spec.into(),
                    repo: "the GitOps history".into(),
                })?
                .to_string(),
        )?;
    }
    Ok(id)
}

/// The new commit on `head`: the catalog and the runtime tree replaced, nothing else.
fn build(
    ctx: &RollbackRun<'_>,
    scratch: Scratch,
    head: &GitopsHead,
    intent_lane: &Lane,
    next: &CatalogDoc,
    d: &Decided,
) -> Result<Option<Built>, RollbackError> {
    let names = &ctx.lane.names;
    let g = &scratch.repo;
    let catalog_json = next.to_json_pretty();
    // Rendered from the catalog as it reads back, after the check every reader applies.
    let checked = check::parse_catalog(
        catalog_json.as_bytes(),
        &format!("{}:{}", names.gitops_branch, names.catalog_path),
        Some(names),
    )
    .map_err(|e| PromoteError::Catalog(crate::error::chain(&e)))?;
    let rendered = crate::render::render_tree(intent_lane, &checked).map_err(PromoteError::from)?;
    let old_tree = g.tree_id(&head.commit)?;
    let new_tree = g.replace_in_tree(
        Some(&old_tree),
        &[
            Replace::File {
                path: &names.catalog_path,
                content: catalog_json.as_bytes(),
            },
            Replace::Dir {
                path: &names.runtime_path,
                files: &rendered.files,
            },
        ],
    )?;
    if new_tree == old_tree {
        return Ok(None);
    }
    let changed = g.changed_paths(Some(&old_tree), &new_tree)?;
    promote::check_allowed(&changed, &names.catalog_path, &names.runtime_path)?;
    let msg = message::compose(
        &message::Ends {
            lane: &names.version,
            scope: d.scope,
            from: &d.from,
            to: &d.to,
            intent_commit: &d.intent_commit,
            requested_by: &ctx.requested_by,
            reason: ctx.args.reason.as_deref(),
        },
        &d.services,
    );
    let commit = promote::write_commit(
        g,
        &new_tree,
        &[head.commit.to_string()],
        &msg,
        ctx.unix_now,
        ctx.signer,
    )?;
    g.update_ref_cas(
        &names.gitops_ref(),
        &commit,
        Some(&head.commit),
        "lane rollback",
    )?;
    Ok(Some(Built {
        scratch,
        commit: crate::git::commit_id(&commit)?,
        changed,
    }))
}
