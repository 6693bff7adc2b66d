//! `lane promote`: one atomic, race-safe commit on the lane's GitOps branch per release.
//!
//! The new commit's tree is the previous GitOps tree with exactly two things replaced: the
//! catalog file and the runtime directory. Objects are built with gix in the source
//! repository's object database (no worktree); the push names the old value it expects, and a
//! lost race is redone on the new tip (bounded, with backoff and jitter). Nothing is ever
//! written to the source branch.
//!
//! Decisions:
//! - The GitOps tip is fetched with `--depth=1` into a throwaway bare repository per attempt
//!   that borrows the source repository's objects (alternates); the new objects are written
//!   there and pushed from there. The new commit needs only the tip's tree, so the cost is
//!   flat in the GitOps history; the source repository is only read, so runs sharing a
//!   `--repo`, or killed mid-way, leave no lock or shallow marker in it.
//! - Ancestry for out-of-order runs is read from the source repository's commit graph; it
//!   needs the source history (no shallow clone of the source branch); a catalog commit
//!   missing locally is fetched from `origin`.
//! - Services removed from deploy.json lose their catalog entries; disabled ones keep them.

pub mod credentials;
mod inputs;
pub mod merge;
mod message;

use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

use crate::error::{Classified, ExitClass, Failure};
use crate::git::cli::{self, PushOutcome};
use crate::git::gitops::{self, GitopsHead};
use crate::git::remote::Remote;
use crate::git::scratch::{Scratch, ScratchError};
use crate::git::write::{Identity, Replace};
use crate::git::{GitError, Repo};
use crate::model::catalog_at::{catalog_at, CatalogAtError};
use crate::model::publish::PublishedImage;
use crate::model::{check, rules, CatalogDoc, Commit, InputError, Lane, LaneAtError, DEPLOY_PATH};
use crate::output::{progress, Outcome, Report};
use crate::render::{self, RenderError};
use merge::{RunInput, ServiceResult};

#[derive(Debug, Clone, clap::Args)]
pub struct PromoteArgs {
    /// Source repository (worktree or bare), only read: deploy.json, the commit graph for
    /// out-of-order runs, and the objects a throwaway GitOps repository borrows.
    #[arg(long, value_name = "DIR", default_value = ".", env = "LANE_REPO")]
    pub repo: PathBuf,
    /// Source commit being promoted: full or short SHA or a ref, resolved strictly to 40 hex.
    #[arg(long, value_name = "REV", default_value = "HEAD", env = "LANE_COMMIT")]
    pub commit: String,
    /// deploy.json from disk; default: `deploy/deploy.json` in the commit's tree.
    #[arg(long, value_name = "FILE")]
    pub deploy: Option<PathBuf>,
    /// Publish result files, or directories of them (`*.json`), from `lane publish --out`. All
    /// must be for this lane and this source commit.
    #[arg(long, value_name = "PATH", num_args = 1.., required = true, env = "LANE_PUBLISH")]
    pub publish: Vec<PathBuf>,
    /// GitOps remote to fetch from and push to; default: the lane's `gitopsRepo` (else its
    /// `sourceRepo`).
    #[arg(
        long,
        value_name = "URL",
        env = "LANE_GITOPS_REMOTE",
        hide_env_values = true
    )]
    pub gitops_remote: Option<String>,
    /// Lane initialisation: write the lane's first catalog. Refused when the GitOps branch
    /// already has one; without it a missing catalog is an error.
    #[arg(long, env = "LANE_INIT")]
    pub init: bool,
    /// PipelineRun name, recorded in the catalog entries and the commit message.
    #[arg(long, value_name = "NAME", env = "LANE_PIPELINE_RUN")]
    pub pipeline_run: Option<String>,
    /// Pushes at most, when other runs keep moving the GitOps branch first (each retry
    /// fetches, redoes and pushes again after a jittered backoff). A refusal by the server is
    /// never retried.
    #[arg(long, value_name = "N", default_value_t = 12, value_parser = clap::value_parser!(u32).range(1..=50))]
    pub max_attempts: u32,
    /// Always fetch the GitOps tip before the first attempt. By default the first attempt
    /// builds on the tip the source repository already holds (`refs/lane/gitops/<branch>`
    /// from `lane plan --gitops-remote`, else `refs/remotes/origin/<branch>` from the
    /// prepare-source step) and the lease-guarded push refuses it if the branch moved since;
    /// only then is the tip fetched.
    #[arg(long)]
    pub fetch_first: bool,
    /// Promote even when this run's source commit is neither an ancestor nor a descendant of
    /// the commit whose deploy intent the GitOps tree was rendered from (the source branch was
    /// force-pushed or diverged). This run's deploy intent then replaces the recorded one.
    #[arg(long)]
    pub allow_diverged: bool,
    /// Write the GitOps commit (new, or current on a noop) to PATH (a Tekton result).
    #[arg(long, value_name = "PATH", env = "LANE_RESULT_COMMIT")]
    pub result_commit: Option<PathBuf>,
    /// Write `committed` or `noop` to PATH (a Tekton result).
    #[arg(long, value_name = "PATH", env = "LANE_RESULT_OUTCOME")]
    pub result_outcome: Option<PathBuf>,
    #[command(flatten)]
    pub credentials: credentials::CredentialArgs,
}

#[derive(Debug, thiserror::Error)]
pub enum PromoteError {
    #[error("the GitOps branch '{branch}' is the source branch; promote never writes to the source branch")]
    SourceBranch { branch: String },
    #[error("the GitOps branch '{branch}' has no catalog at {path}")]
    NoCatalog { branch: String, path: String },
    #[error("--init refused: the GitOps branch '{branch}' already has a catalog at {path}")]
    AlreadyInitialised { branch: String, path: String },
    #[error("the new GitOps tree changes paths outside {catalog} and {runtime}: {paths:?}")]
    OutsideAllowed {
        catalog: String,
        runtime: String,
        paths: Vec<String>,
    },
    #[error(
        "commit {commit} (recorded in the catalog for '{service}') is not in the source repository"
    )]
    MissingCommit { service: String, commit: String },
    #[error(
        "another run moved '{branch}' first on every one of {attempts} attempts (last: {last})"
    )]
    Exhausted {
        branch: String,
        attempts: u32,
        last: String,
    },
    #[error("source commit {commit} is neither an ancestor nor a descendant of {recorded}, the commit whose deploy intent the GitOps branch holds: the source branch diverged or was force-pushed")]
    Diverged { commit: String, recorded: String },
    #[error("the lane's names differ between {commit} and {recorded} (the newer deploy intent on the GitOps branch); an older run cannot promote into the renamed lane")]
    NamesChanged { commit: String, recorded: String },
    #[error("the remote refused the push to '{branch}' and its tip did not move (not a race): {message}")]
    Refused { branch: String, message: String },
    #[error(
        "the remote serves {gitops_ref} as a symbolic ref to {target}: pushing would write there"
    )]
    SymbolicGitopsRef { gitops_ref: String, target: String },
    #[error("the GitOps tip {tip} is a commit of the source history (of {commit}): the GitOps ref points into the source branch")]
    GitopsInSourceHistory { tip: String, commit: String },
    #[error("publish results: {0}")]
    Publish(String),
    #[error("credentials: {0}")]
    Credentials(String),
    #[error("signing: {0}")]
    Sign(#[from] crate::git::sign::SignError),
    #[error("the merged catalog is invalid: {0}")]
    Catalog(String),
    #[error("cannot write {path}: {message}")]
    Write { path: String, message: String },
    #[error(transparent)]
    Git(#[from] GitError),
    #[error(transparent)]
    CatalogAt(#[from] CatalogAtError),
    #[error(transparent)]
    Scratch(#[from] ScratchError),
    #[error(transparent)]
    Input(#[from] InputError),
    #[error(transparent)]
    Render(#[from] RenderError),
}

impl Classified for PromoteError {
    fn class(&self) -> ExitClass {
        match self {
            PromoteError::Git(e) => e.class(),
            PromoteError::CatalogAt(e) => e.class(),
            PromoteError::Scratch(e) => e.class(),
            PromoteError::Input(e) => e.class(),
            PromoteError::Render(e) => e.class(),
            PromoteError::OutsideAllowed { .. } => ExitClass::Internal,
            PromoteError::MissingCommit { .. }
            | PromoteError::Exhausted { .. }
            | PromoteError::Credentials(_)
            | PromoteError::Sign(_)
            | PromoteError::Refused { .. }
            | PromoteError::Write { .. } => ExitClass::Environment,
            _ => ExitClass::Rejected,
        }
    }
    fn hint(&self) -> Option<String> {
        Some(match self {
            PromoteError::SourceBranch { .. } => {
                "give the lane a separate GitOps branch (lane.names.gitopsBranch)".into()
            }
            PromoteError::NoCatalog { .. } => {
                "initialise the lane once with `lane promote --init` (nothing falls back to another branch)".into()
            }
            PromoteError::AlreadyInitialised { .. } => {
                "drop --init: the lane is initialised; promote updates its catalog".into()
            }
            PromoteError::OutsideAllowed { .. } => {
                "nothing was pushed; this is a bug in lane, please report it".into()
            }
            PromoteError::MissingCommit { .. } => {
                "fetch the source branch's full history into --repo (no shallow clone)".into()
            }
            PromoteError::Exhausted { .. } => {
                "retry the step, or raise --max-attempts when many runs promote at once".into()
            }
            PromoteError::Publish(_) => {
                "pass the publish results of this lane and commit (lane publish --out)".into()
            }
            PromoteError::Refused { .. } => {
                "read the server's message above (a pre-receive hook, branch protection or permissions); nothing was retried".into()
            }
            PromoteError::SymbolicGitopsRef { .. } | PromoteError::GitopsInSourceHistory { .. } => {
                "give the lane a GitOps branch of its own on the remote (lane.names.gitopsBranch); nothing was pushed".into()
            }
            PromoteError::Diverged { .. } => {
                "release a commit of the current source branch; to replace the recorded deploy intent on purpose, pass --allow-diverged".into()
            }
            PromoteError::NamesChanged { .. } => {
                "nothing was pushed: the newer release already owns the lane; re-run the pipeline for the source branch tip".into()
            }
            PromoteError::Credentials(_) => {
                "mount the Tekton ssh-directory / basic-auth workspace at the given path".into()
            }
            PromoteError::Sign(_) => {
                "pass --signing-key an unencrypted OpenSSH private key (ssh-keygen -t ed25519 -N '') that this user can read; nothing was pushed".into()
            }
            PromoteError::Git(e) => return e.hint(),
            PromoteError::CatalogAt(e) => return e.hint(),
            PromoteError::Scratch(e) => return e.hint(),
            PromoteError::Input(e) => return e.hint(),
            PromoteError::Render(e) => return e.hint(),
            _ => return None,
        })
    }
    fn details(&self) -> Option<serde_json::Value> {
        match self {
            PromoteError::Input(e) => e.details(),
            PromoteError::CatalogAt(e) => e.details(),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum PromoteOutcome {
    Committed,
    Noop,
    /// An older run finished late: a newer source commit's release is on the GitOps branch
    /// already and every image of this run is superseded; nothing was committed.
    Superseded,
}

impl PromoteOutcome {
    fn as_str(self) -> &'static str {
        match self {
            PromoteOutcome::Committed => "committed",
            PromoteOutcome::Noop => "noop",
            PromoteOutcome::Superseded => "superseded",
        }
    }
}

/// Where an attempt's GitOps tip came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum TipSource {
    /// The source repository already held it (no fetch); confirmed by the push's lease.
    Workspace,
    /// Fetched from the GitOps remote.
    Remote,
}

#[derive(Debug, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PromoteReport {
    pub outcome: PromoteOutcome,
    pub lane: String,
    pub gitops_branch: String,
    pub source_commit: Commit,
    /// The source commit whose deploy.json the GitOps tree is rendered from (the catalog's
    /// `sourceCommit`): this run's, or a newer one when this run finished late.
    pub intent_commit: Commit,
    /// The GitOps commit now at the branch tip (the new one, or the current one on a noop).
    pub commit: Option<Commit>,
    /// The GitOps commit the promote was built on (`null`: the branch did not exist).
    pub previous_commit: Option<Commit>,
    pub attempts: u32,
    /// Where the tip this release was built on came from: `workspace` (the source
    /// repository already held it) or `remote` (fetched).
    pub tip_source: TipSource,
    pub init: bool,
    pub catalog_path: String,
    pub runtime_path: String,
    /// Paths of the GitOps tree that changed (always within the two above).
    pub changed_paths: Vec<String>,
    pub services: Vec<ServiceResult>,
    /// Fingerprint (`SHA256:…`) of the key the new commit is signed with (`--signing-key`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signed_by: Option<String>,
}

impl Report for PromoteReport {
    fn text(&self) -> String {
        let mut s = format!(
            "{} {} on {} (source {}, {} attempt(s))\n",
            self.outcome.as_str(),
            self.commit.as_deref().unwrap_or("-"),
            self.gitops_branch,
            self.source_commit,
            self.attempts
        );
        for r in &self.services {
            s.push_str(&format!("  {:24} {:?}\n", r.service, r.outcome));
        }
        s
    }
}

/// Everything fixed for the whole promote (does not change between attempts).
struct PromoteRun<'a> {
    repo: &'a Repo,
    lane: &'a Lane,
    commit: &'a Commit,
    images: &'a [PublishedImage],
    args: &'a PromoteArgs,
    remote: &'a Remote,
    now: String,
    unix_now: i64,
    signer: Option<&'a crate::git::sign::SigningKey>,
}

/// One attempt's result before the push.
enum Prepared {
    /// Nothing to commit: `Noop`, or `Superseded` when a newer release already holds the
    /// branch (every image of this run is superseded).
    Unchanged {
        outcome: PromoteOutcome,
        head: Option<GitopsHead>,
        services: Vec<ServiceResult>,
        intent_commit: Commit,
    },
    Commit(Box<Built>),
}

/// A new commit in a scratch repository, not pushed yet.
struct Built {
    scratch: Scratch,
    head: Option<GitopsHead>,
    commit: Commit,
    changed: Vec<String>,
    services: Vec<ServiceResult>,
    intent_commit: Commit,
}

pub fn run(args: &PromoteArgs) -> Result<Outcome, Failure> {
    if let Some(r) = &args.gitops_remote {
        Remote::parse_named("--gitops-remote", r).map_err(PromoteError::from)?;
    }
    let _creds = credentials::apply(&args.credentials)?;
    let signer = credentials::signing_key(&args.credentials)?;
    let report = promote_signed(args, signer.as_ref())?;
    write_results(args, &report)?;
    Outcome::of(&report)
}

fn write_results(args: &PromoteArgs, report: &PromoteReport) -> Result<(), PromoteError> {
    let write = |p: &PathBuf, v: &str| {
        crate::fsutil::write_atomic(p, v.as_bytes()).map_err(|e| PromoteError::Write {
            path: p.display().to_string(),
            message: e.to_string(),
        })
    };
    if let Some(p) = &args.result_commit {
        write(p, report.commit.as_deref().unwrap_or(""))?;
    }
    if let Some(p) = &args.result_outcome {
        write(p, report.outcome.as_str())?;
    }
    Ok(())
}

fn load_lane(repo: &Repo, args: &PromoteArgs, commit: &str) -> Result<Lane, PromoteError> {
    if let Some(path) = &args.deploy {
        return Ok(Lane::load(path, None)?);
    }
    lane_at(repo, commit)
}

/// The lane as deploy/deploy.json at `commit` declares it.
pub(crate) fn lane_at(repo: &Repo, commit: &str) -> Result<Lane, PromoteError> {
    Lane::at_commit(repo, commit).map_err(|e| match e {
        LaneAtError::Read { source, .. } => source.into(),
        LaneAtError::Missing { file } => InputError::Invalid {
            file,
            findings: vec![check::Finding {
                path: "$".into(),
                rule: "missing-file".into(),
                message: format!("the commit has no {DEPLOY_PATH}; pass --deploy FILE"),
            }],
        }
        .into(),
        LaneAtError::Invalid(e) => e.into(),
    })
}

/// A commit id git resolved, typed. Git names a commit by its full id, so this fails only
/// on a repository whose object format lane does not read (SHA-256).
/// A lane whose GitOps branch is its source branch would commit releases to the source.
pub(crate) fn refuse_source_branch(names: &crate::model::LaneNames) -> Result<(), PromoteError> {
    if names.gitops_branch == names.source_branch || names.gitops_ref() == names.source_ref() {
        return Err(PromoteError::SourceBranch {
            branch: names.gitops_branch.to_string(),
        });
    }
    Ok(())
}

/// The push target: `--gitops-remote` when given, else the lane's `gitopsRepo`.
pub(crate) fn gitops_remote(
    names: &crate::model::LaneNames,
    flag: Option<&str>,
) -> Result<Remote, PromoteError> {
    Ok(match flag {
        Some(r) => Remote::parse_named("--gitops-remote", r)?,
        None => Remote::parse_named("deploy.json: $.lane.gitopsRepo", &names.gitops_repo)?,
    })
}

/// The whole promote: inputs, then bounded attempts of fetch → merge → render → commit → push.
pub fn promote(args: &PromoteArgs) -> Result<PromoteReport, PromoteError> {
    promote_signed(args, None)
}

/// [`promote`], signing the GitOps commit with `signer` when given.
pub fn promote_signed(
    args: &PromoteArgs,
    signer: Option<&crate::git::sign::SigningKey>,
) -> Result<PromoteReport, PromoteError> {
    let repo = Repo::open(&args.repo)?;
    let commit = repo.resolve_commit(&args.commit)?;
    let lane = load_lane(&repo, args, &commit)?;
    let names = &lane.names;
    refuse_source_branch(names)?;
    let images = inputs::load(&args.publish, &lane, &commit)?;
    let remote = gitops_remote(names, args.gitops_remote.as_deref())?;
    let unix_now = rules::now_unix();
    let ctx = PromoteRun {
        repo: &repo,
        lane: &lane,
        commit: &commit,
        images: &images,
        args,
        remote: &remote,
        now: rules::format_rfc3339(unix_now),
        unix_now,
        signer,
    };
    progress(format!(
        "promoting {} ({} image(s)) to {}",
        &commit[..12],
        images.len(),
        names.gitops_branch
    ));
    if args.init {
        refuse_symbolic_gitops_ref(&repo, &ctx)?;
    }
    // The first attempt builds on the tip the source repository already holds, when it has
    // one: the push's lease confirms it, so a stale guess costs one refused push, never a
    // wrong commit. Anything but a commit to push (a noop, a refusal) is judged again on the
    // fetched tip.
    let mut guess = if args.fetch_first || args.init {
        None
    } else {
        gitops::held_tip(&repo, &names.gitops_branch)
    };
    // `--max-attempts` counts pushes, the workspace guess's included.
    let mut pushes = 0u32;
    let mut last = String::new();
    loop {
        let on_workspace = guess.take();
        let tip_source = match on_workspace {
            Some(_) => TipSource::Workspace,
            None => TipSource::Remote,
        };
        if let Some(tip) = &on_workspace {
            progress(format!(
                "building on the GitOps tip the source repository holds ({})",
                &tip[..12]
            ));
        }
        let prepared = match prepare(&ctx, on_workspace.as_deref()) {
            Err(e) if on_workspace.is_some() => {
                progress(format!(
                    "the workspace's tip was not usable ({}); fetching the tip",
                    crate::error::chain(&e)
                ));
                continue;
            }
            Err(PromoteError::Git(GitError::Command { stderr, .. })) if cli::is_race(&stderr) => {
                // A ref lock held by another writer during the fetch: try again.
                last = stderr;
                wait_before_retry(pushes.max(1), args.max_attempts, &last);
                continue;
            }
            other => other?,
        };
        let (outcome, head, services, intent_commit) = match prepared {
            Prepared::Commit(built) => {
                pushes += 1;
                match land(&ctx, *built, (pushes, tip_source)) {
                    Ok(Landed::Done(done)) => return Ok(*done),
                    Ok(Landed::Raced(reason)) => last = reason,
                    // Whatever went wrong with the guess, the fetched tip is the real test (a
                    // lasting cause, such as refused credentials, fails there again).
                    Err(e) if on_workspace.is_some() => progress(format!(
                        "pushing on the workspace's tip failed ({}); fetching the tip",
                        crate::error::chain(&e)
                    )),
                    Err(e) => return Err(e),
                }
                if pushes >= args.max_attempts {
                    return Err(PromoteError::Exhausted {
                        branch: names.gitops_branch.to_string(),
                        attempts: pushes,
                        last,
                    });
                }
                if on_workspace.is_some() {
                    progress(format!(
                        "the GitOps branch moved since the workspace read it ({last}); fetching its tip"
                    ));
                } else {
                    wait_before_retry(pushes + 1, args.max_attempts, &last);
                }
                continue;
            }
            _ if on_workspace.is_some() => {
                progress("no change against the workspace's tip; confirming on the fetched tip");
                continue;
            }
            Prepared::Unchanged {
                outcome,
                head,
                services,
                intent_commit,
            } => (outcome, head, services, intent_commit),
        };
        progress(match outcome {
            PromoteOutcome::Superseded => {
                "every image of this run is superseded by a newer release: no commit (superseded)"
            }
            _ => "nothing changed: no commit (noop)",
        });
        let c = head.map(|h| h.commit);
        return Ok(report(
            &ctx,
            outcome,
            (c.clone(), c),
            (pushes, TipSource::Remote),
            vec![],
            services,
            intent_commit,
        ));
    }
}

pub(crate) fn wait_before_retry(next: u32, max: u32, last: &str) {
    let wait = backoff(next);
    progress(format!(
        "attempt {next}/{max}: {last}; retrying on the new tip in {} ms",
        wait.as_millis()
    ));
    std::thread::sleep(wait);
}

/// `--init` on a remote whose GitOps ref is a symbolic ref would write through it (onto the
/// source branch, say): look at what the remote serves before anything is pushed.
fn refuse_symbolic_gitops_ref(repo: &Repo, ctx: &PromoteRun<'_>) -> Result<(), PromoteError> {
    let names = &ctx.lane.names;
    let remote_ref = cli::remote_ref(repo.path(), ctx.remote, &names.gitops_ref())?;
    match remote_ref.symref_target {
        Some(target) => Err(PromoteError::SymbolicGitopsRef {
            gitops_ref: names.gitops_ref(),
            target,
        }),
        None => Ok(()),
    }
}

/// `--init` on an existing GitOps ref without a catalog: refuse when that ref's tip is a commit
/// of the source history (the ref is, or was made from, the source branch).
fn refuse_source_history(repo: &Repo, commit: &str, tip: &str) -> Result<(), PromoteError> {
    if repo.has_object(tip) && (repo.is_ancestor(tip, commit)? || repo.is_ancestor(commit, tip)?) {
        return Err(PromoteError::GitopsInSourceHistory {
            tip: tip.to_string(),
            commit: commit.to_string(),
        });
    }
    Ok(())
}

/// How one push ended.
enum Landed {
    Done(Box<PromoteReport>),
    /// Another run moved the branch first: fetch, redo, push again.
    Raced(String),
}

/// How a lease-guarded push of a built commit ended.
pub(crate) enum Pushed {
    /// The commit is the remote tip (pushed, or its lost answer confirmed).
    Landed,
    /// Another writer moved the branch first: fetch, redo, push again.
    Raced(String),
}

/// Push `commit` from `dir` to `dst` with the lease on `old`. A refusal is told from a race
/// by looking at the remote: if its tip did not move, nobody raced (a hook or the server
/// refused), and a push whose answer was lost but whose commit is the tip has landed.
pub(crate) fn push_guarded(
    dir: &std::path::Path,
    remote: &Remote,
    commit: &str,
    dst: &str,
    old: Option<&str>,
    branch: &str,
) -> Result<Pushed, PromoteError> {
    match cli::push_lease(dir, remote, commit, dst, old) {
        Ok(PushOutcome::Pushed) => Ok(Pushed::Landed),
        Ok(PushOutcome::Raced(reason)) => {
            let now = cli::remote_ref(dir, remote, dst).map(|r| r.tip);
            match now {
                Ok(tip) if tip.as_deref() == Some(commit) => Ok(Pushed::Landed),
                // The tip did not move and no other writer held its lock: the server refused.
                Ok(tip) if tip.as_deref() == old && !cli::is_lock_contention(&reason) => {
                    Err(PromoteError::Refused {
                        branch: branch.to_string(),
                        message: reason,
                    })
                }
                _ => Ok(Pushed::Raced(reason)),
            }
        }
        Err(e) => {
            // The answer may be lost after the remote took the push.
            match cli::remote_ref(dir, remote, dst) {
                Ok(r) if r.tip.as_deref() == Some(commit) => {
                    progress("the push's answer was lost, but its commit is the remote tip");
                    Ok(Pushed::Landed)
                }
                _ => Err(e.into()),
            }
        }
    }
}

/// Push a built commit with the lease on its base.
fn land(
    ctx: &PromoteRun<'_>,
    built: Built,
    attempt: (u32, TipSource),
) -> Result<Landed, PromoteError> {
    let names = &ctx.lane.names;
    let old = built.head.as_ref().map(|h| h.commit.clone());
    match push_guarded(
        &built.scratch.dir,
        ctx.remote,
        &built.commit,
        &names.gitops_ref(),
        old.as_deref(),
        &names.gitops_branch,
    )? {
        Pushed::Raced(reason) => Ok(Landed::Raced(reason)),
        Pushed::Landed => {
            progress(format!(
                "pushed {} to {}",
                built.commit, names.gitops_branch
            ));
            Ok(Landed::Done(Box::new(report(
                ctx,
                PromoteOutcome::Committed,
                (Some(built.commit), old),
                attempt,
                built.changed,
                built.services,
                built.intent_commit,
            ))))
        }
    }
}

fn report(
    ctx: &PromoteRun<'_>,
    outcome: PromoteOutcome,
    (commit, previous): (Option<Commit>, Option<Commit>),
    (attempts, tip_source): (u32, TipSource),
    changed_paths: Vec<String>,
    services: Vec<ServiceResult>,
    intent_commit: Commit,
) -> PromoteReport {
    let n = &ctx.lane.names;
    PromoteReport {
        outcome,
        lane: n.version.to_string(),
        gitops_branch: n.gitops_branch.to_string(),
        source_commit: ctx.commit.clone(),
        intent_commit,
        commit,
        previous_commit: previous,
        attempts,
        tip_source,
        init: ctx.args.init,
        catalog_path: n.catalog_path.to_string(),
        runtime_path: n.runtime_path.to_string(),
        signed_by: match (&outcome, ctx.signer) {
            (PromoteOutcome::Committed, Some(k)) => Some(k.fingerprint.clone()),
            _ => None,
        },
        changed_paths,
        services,
    }
}

/// Backoff before push `attempt` (≥ 2): "full jitter" — uniform in [20 ms, cap) with the cap
/// doubling from 250 ms to 8 s. Runs that collided spread over the whole window instead of
/// retrying in lock-step (with ±50 % jitter around a mean shorter than one attempt, 32
/// simultaneous runs kept colliding).
fn backoff(attempt: u32) -> Duration {
    use std::hash::{BuildHasher, Hasher};
    let cap = (250u64 << (attempt.saturating_sub(2)).min(5)).min(8000);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    Duration::from_millis(20 + h.finish() % cap)
}

/// Make sure a commit is present in the source repository (ancestry needs it): fetch it from
/// `origin` when missing.
pub(crate) fn ensure_commit(repo: &Repo, service: &str, commit: &str) -> Result<(), PromoteError> {
    if repo.has_object(commit) {
        return Ok(());
    }
    progress(format!("fetching {commit} into the source repository"));
    let _ = cli::run(
        repo.path(),
        &[
            "fetch",
            "--quiet",
            "--no-tags",
            "--",
            "origin",
            cli::positional(commit)?,
        ],
    );
    if repo.has_object(commit) {
        Ok(())
    } else {
        Err(PromoteError::MissingCommit {
            service: service.into(),
            commit: commit.into(),
        })
    }
}

/// Take the tip (`workspace`: the one the source repository holds; else fetched), merge,
/// render and build the new commit (not pushed yet).
fn prepare(ctx: &PromoteRun<'_>, workspace: Option<&str>) -> Result<Prepared, PromoteError> {
    let repo = ctx.repo;
    let names = &ctx.lane.names;
    let scratch = Scratch::new(repo)?;
    let head = match workspace {
        Some(tip) => Some(scratch.adopt(repo, &names.gitops_branch, tip)?),
        None => scratch.fetch_tip(&names.gitops_branch, ctx.remote)?,
    };
    let gitops = &scratch.repo;
    let previous = match &head {
        Some(h) => catalog_at(gitops, names, h)?,
        None => None,
    };
    let previous = match (previous, ctx.args.init) {
        (Some(_), true) => {
            return Err(PromoteError::AlreadyInitialised {
                branch: names.gitops_branch.to_string(),
                path: names.catalog_path.to_string(),
            })
        }
        (Some(c), false) => c.into_doc(),
        (None, true) => {
            if let Some(h) = &head {
                refuse_source_history(repo, ctx.commit, &h.commit)?;
            }
            CatalogDoc::empty(names, ctx.commit, &ctx.now)
        }
        (None, false) => {
            return Err(PromoteError::NoCatalog {
                branch: names.gitops_branch.to_string(),
                path: names.catalog_path.to_string(),
            })
        }
    };
    ensure_commit(repo, "(catalog)", &previous.source_commit)?;
    if let Some(r) = &previous.rollback {
        ensure_commit(repo, "(rollback)", &r.from.source_commit)?;
    }
    for (id, e) in &previous.services {
        ensure_commit(repo, id, &e.source_commit)?;
        if let Some(r) = &e.rollback {
            ensure_commit(repo, id, &r.from.source_commit)?;
        }
    }
    // The tree is rendered from the newest deploy intent, never an older run's: an older run
    // finishing late merges its images into the recorded commit's deploy.json
    // (docs/out-of-order.md).
    let recorded_lane;
    let (intent_lane, intent_commit) = match intent_source(ctx, repo, &previous)? {
        None => (ctx.lane, ctx.commit.clone()),
        Some(recorded) => {
            recorded_lane = lane_at(repo, &recorded)?;
            if recorded_lane.names != ctx.lane.names {
                return Err(PromoteError::NamesChanged {
                    commit: ctx.commit.to_string(),
                    recorded: recorded.to_string(),
                });
            }
            progress(format!(
                "source commit {} is older than {recorded}, whose deploy intent the GitOps branch holds: rendering with that intent",
                &ctx.commit[..12]
            ));
            (&recorded_lane, recorded)
        }
    };
    let late = intent_commit != **ctx.commit;
    let run = RunInput {
        source_commit: ctx.commit,
        pipeline_run: ctx.args.pipeline_run.as_deref(),
        images: ctx.images,
        now: &ctx.now,
    };
    let merged = merge::merge(&previous, intent_lane.intent(), &run, |a, b| {
        repo.is_ancestor(a, b)
    })?;
    let catalog_json = merged.catalog.to_json_pretty();
    // The same strict check every reader applies (formats, lane, no secret values); the tree
    // is rendered from the catalog as it reads back.
    let checked = check::parse_catalog(
        catalog_json.as_bytes(),
        &format!("{}:{}", names.gitops_branch, names.catalog_path),
        Some(names),
    )
    .map_err(|e| PromoteError::Catalog(crate::error::chain(&e)))?;
    let rendered = render::render_tree(intent_lane, &checked)?;

    let old_tree = match &head {
        Some(h) => Some(gitops.tree_id(&h.commit)?),
        None => None,
    };
    let new_tree = gitops.replace_in_tree(
        old_tree.as_deref(),
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
    if head.is_some() && old_tree.as_deref() == Some(new_tree.as_str()) {
        return Ok(Prepared::Unchanged {
            outcome: if late {
                PromoteOutcome::Superseded
            } else {
                PromoteOutcome::Noop
            },
            head,
            services: merged.services,
            intent_commit,
        });
    }
    let changed = gitops.changed_paths(old_tree.as_deref(), &new_tree)?;
    check_allowed(&changed, &names.catalog_path, &names.runtime_path)?;
    let message = message::compose(ctx.lane, ctx.commit, ctx.args, &merged.services);
    let parents: Vec<String> = head.iter().map(|h| h.commit.to_string()).collect();
    let commit = write_commit(
        gitops,
        &new_tree,
        &parents,
        &message,
        ctx.unix_now,
        ctx.signer,
    )?;
    // The new commit enters the scratch repository's branch by compare-and-swap.
    gitops.update_ref_cas(
        &names.gitops_ref(),
        &commit,
        head.as_ref().map(|h| h.commit.as_str()),
        "lane promote",
    )?;
    Ok(Prepared::Commit(Box::new(Built {
        scratch,
        head,
        commit: crate::git::commit_id(&commit)?,
        changed,
        services: merged.services,
        intent_commit,
    })))
}

/// Write the GitOps commit (signed when a key is given) in the scratch repository.
pub(crate) fn write_commit(
    repo: &Repo,
    tree: &str,
    parents: &[String],
    message: &str,
    unix_now: i64,
    signer: Option<&crate::git::sign::SigningKey>,
) -> Result<String, PromoteError> {
    use crate::git::write::SignedWriteError;
    repo.write_commit_signed(
        tree,
        parents,
        message,
        &Identity::from_env(),
        unix_now,
        signer,
    )
    .map_err(|e| match e {
        SignedWriteError::Git(e) => PromoteError::Git(e),
        SignedWriteError::Sign(e) => PromoteError::Sign(e),
    })
}

/// Whose deploy intent the new tree is rendered from: `None` for this run's, `Some(commit)`
/// for the newer commit the GitOps branch records when this run is older (its ancestor).
fn intent_source(
    ctx: &PromoteRun<'_>,
    repo: &Repo,
    previous: &CatalogDoc,
) -> Result<Option<Commit>, PromoteError> {
    let recorded = &previous.source_commit;
    // A rolled-back lane keeps its restored intent against the commit it was rolled back
    // from and every older one; only a newer commit rolls it forward (docs/rollback.md).
    if let Some(r) = &previous.rollback {
        let from = &r.from.source_commit;
        if repo.is_ancestor(ctx.commit, from)? {
            progress(format!(
                "the lane was rolled back from {from} by {}; source commit {} is not newer: the restored release stays",
                r.requested_by,
                &ctx.commit[..12]
            ));
            return Ok(Some(recorded.clone()));
        }
        if repo.is_ancestor(from, ctx.commit)? {
            return Ok(None);
        }
    }
    if recorded == ctx.commit || repo.is_ancestor(recorded, ctx.commit)? {
        return Ok(None);
    }
    if repo.is_ancestor(ctx.commit, recorded)? {
        return Ok(Some(recorded.clone()));
    }
    if ctx.args.allow_diverged {
        progress(format!(
            "source commit {} diverged from {recorded}; --allow-diverged: its deploy intent replaces the recorded one",
            &ctx.commit[..12]
        ));
        return Ok(None);
    }
    Err(PromoteError::Diverged {
        commit: ctx.commit.to_string(),
        recorded: recorded.to_string(),
    })
}

/// Refuse any change outside the catalog file and the runtime directory.
pub(crate) fn check_allowed(
    changed: &[String],
    catalog: &str,
    runtime: &str,
) -> Result<(), PromoteError> {
    let runtime = runtime.trim_end_matches('/');
    let inside = |p: &str| p == catalog || p == runtime || p.starts_with(&format!("{runtime}/"));
    let outside: Vec<String> = changed.iter().filter(|p| !inside(p)).cloned().collect();
    if outside.is_empty() {
        Ok(())
    } else {
        Err(PromoteError::OutsideAllowed {
            catalog: catalog.into(),
            runtime: runtime.into(),
            paths: outside,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_two_paths_are_allowed() {
        let c = "deploy/artifact-catalog.v01.json";
        let r = "deploy/gitops/g14/runtime-v01";
        assert!(check_allowed(&[c.into(), format!("{r}/a.yaml")], c, r).is_ok());
        assert!(check_allowed(&[r.into()], c, r).is_ok());
        assert!(check_allowed(&["README.md".into()], c, r).is_err());
        assert!(check_allowed(&["deploy/gitops/g14/runtime-v01x".into()], c, r).is_err());
        assert!(check_allowed(&["deploy/deploy.json".into()], c, r).is_err());
    }

    #[test]
    fn backoff_grows_and_stays_bounded() {
        for a in 2..20 {
            let d = backoff(a).as_millis();
            assert!((20..8020).contains(&d), "{a}: {d}");
        }
    }
}
