//! `lane verify`: judge a release in the spec's truth order (docs/architecture.md, "Truth
//! sources"): live runtime, Argo CD desired state, GitOps branch, Tekton evidence, clean source.
//!
//! Every check has a stable id, a status, the evidence it looked at (values, never secrets)
//! and on failure a hint. Groups are selectable so one command serves the `validate` Task
//! (`--only static`), the end of the Pipeline and a person at a terminal.

pub mod argo;
pub mod gitops;
pub mod live;
pub mod source;
pub mod tekton;
pub mod tree;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::{json, Value};

use crate::commit::Commit;
use crate::error::{Classified, ExitClass, Failure, RuntimeError};
use crate::git::gitops::{GitopsArgs, GitopsHead};
use crate::git::Repo;
use crate::kube::{self, KubeError};
use crate::model::{Catalog, Lane};
use crate::output::{self, Outcome, Report};

pub use tree::Tree;

/// Where deploy.json lives in the source tree (status reads it from here too).
pub use crate::model::DEPLOY_PATH;

/// Check groups, in the spec's truth order.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Serialize,
    serde::Deserialize,
    clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum Group {
    /// Lane namespace, Deployments, running image digests, source-commit labels, health.
    Live,
    /// Argo CD Application source/destination/revision/sync/health and its AppProject.
    Argo,
    /// The GitOps branch: catalog, digest pins, no secrets, no drift from a fresh render.
    Gitops,
    /// The PipelineRun of the source commit and its published digests.
    Tekton,
    /// deploy.json at the commit, no generated state tracked, docs, clean worktree.
    Source,
    /// gitops + source (needs no cluster).
    Static,
}

impl Group {
    pub const ORDER: [Group; 5] = [
        Group::Live,
        Group::Argo,
        Group::Gitops,
        Group::Tekton,
        Group::Source,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Group::Live => "live",
            Group::Argo => "argo",
            Group::Gitops => "gitops",
            Group::Tekton => "tekton",
            Group::Source => "source",
            Group::Static => "static",
        }
    }

    fn expand(self) -> &'static [Group] {
        match self {
            Group::Static => &[Group::Gitops, Group::Source],
            Group::Live => &[Group::Live],
            Group::Argo => &[Group::Argo],
            Group::Gitops => &[Group::Gitops],
            Group::Tekton => &[Group::Tekton],
            Group::Source => &[Group::Source],
        }
    }

    /// Needs the Kubernetes API.
    pub fn needs_cluster(self) -> bool {
        matches!(self, Group::Live | Group::Argo | Group::Tekton)
    }
}

#[derive(Debug, Clone, clap::Args)]
pub struct VerifyArgs {
    /// Run only these groups (comma-separated): live, argo, gitops, tekton, source; `static`
    /// means gitops,source and needs no cluster. Default: all five.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        value_name = "GROUPS",
        env = "LANE_ONLY"
    )]
    pub only: Vec<Group>,
    /// Leave out these groups (same names as --only).
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        value_name = "GROUPS",
        env = "LANE_SKIP"
    )]
    pub skip: Vec<Group>,
    /// The source repository (worktree or bare) holding the source commit and the GitOps
    /// branch.
    #[arg(long, default_value = ".", value_name = "DIR", env = "LANE_REPO")]
    pub repo: PathBuf,
    /// The source commit being released (full or short SHA, or a ref; resolved strictly).
    #[arg(long, default_value = "HEAD", value_name = "REV", env = "LANE_COMMIT")]
    pub commit: String,
    /// deploy.json from disk for the lane names, instead of the one at --commit. The source
    /// group still checks the committed one.
    #[arg(long, value_name = "FILE")]
    pub deploy: Option<PathBuf>,
    #[command(flatten)]
    pub gitops: GitopsArgs,
    #[command(flatten)]
    pub kube: kube::args::AccessArgs,
    /// The PipelineRun to judge; default: the newest whose name starts with the lane's
    /// PipelineRun name for the commit.
    #[arg(long, value_name = "NAME", env = "LANE_PIPELINE_RUN")]
    pub pipeline_run: Option<String>,
    /// Poll Argo CD and the rollout until synced and healthy at the GitOps head, or until
    /// this much time has passed (e.g. 30s, 5m). Without it everything is looked at once.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, env = "LANE_WAIT")]
    pub wait: Option<Duration>,
    /// Require the GitOps tip to be SSH-signed by a key of this allowed-signers file (git's
    /// `gpg.ssh.allowedSignersFile` format): adds the check `gitops.signature`.
    #[arg(long, value_name = "FILE", env = "LANE_ALLOWED_SIGNERS")]
    pub allowed_signers: Option<PathBuf>,
}

pub use crate::duration::parse_duration;

fn fmt_duration(d: Duration) -> String {
    if d.subsec_millis() != 0 || d.as_secs() == 0 {
        format!("{}ms", d.as_millis())
    } else {
        format!("{}s", d.as_secs())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Fail,
    Skip,
}

/// One check's outcome.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct Check {
    pub id: String,
    pub group: Group,
    pub status: Status,
    /// One line: what was found.
    pub message: String,
    /// What was looked at (values, never secrets).
    pub evidence: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

impl Check {
    pub fn pass(
        group: Group,
        id: impl Into<String>,
        message: impl Into<String>,
        evidence: Value,
    ) -> Check {
        Check {
            id: id.into(),
            group,
            status: Status::Pass,
            message: message.into(),
            evidence,
            hint: None,
        }
    }

    pub fn fail(
        group: Group,
        id: impl Into<String>,
        message: impl Into<String>,
        evidence: Value,
        hint: impl Into<String>,
    ) -> Check {
        Check {
            id: id.into(),
            group,
            status: Status::Fail,
            message: message.into(),
            evidence,
            hint: Some(hint.into()),
        }
    }

    pub fn skip(group: Group, id: impl Into<String>, reason: impl Into<String>) -> Check {
        Check {
            id: id.into(),
            group,
            status: Status::Skip,
            message: reason.into(),
            evidence: Value::Null,
            hint: None,
        }
    }

    /// Pass when `problems` is empty, else fail listing them.
    pub fn judge(
        group: Group,
        id: impl Into<String>,
        ok_message: impl Into<String>,
        problems: Vec<String>,
        mut evidence: Value,
        hint: impl Into<String>,
    ) -> Check {
        if problems.is_empty() {
            Check::pass(group, id, ok_message, evidence)
        } else {
            let message = problems.join("; ");
            if let Value::Object(m) = &mut evidence {
                m.insert("problems".into(), json!(problems));
            }
            Check::fail(group, id, message, evidence, hint)
        }
    }
}

/// `s` cut to `max` characters (with `…`): values from API answers go into one-line messages,
/// and an answer is not trusted to keep them short.
pub fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut c: String = s.chars().take(max).collect();
        c.push('…');
        c
    }
}

/// The failed check for a request the API server refused (403): it names the verb, the
/// resource with its API group and the namespace, and the RBAC rule that would allow it.
pub fn forbidden_check(
    group: Group,
    id: impl Into<String>,
    access: &kube::Access,
    api_message: &str,
) -> Check {
    Check::fail(
        group,
        id,
        format!(
            "forbidden: the verifying identity may not {}",
            access.describe()
        ),
        json!({"forbidden": [access], "apiMessage": api_message}),
        forbidden_hint(std::slice::from_ref(access)),
    )
}

/// How to grant what was refused.
pub fn forbidden_hint(refused: &[kube::Access]) -> String {
    let rules: Vec<String> = refused.iter().map(|a| a.rule()).collect();
    format!(
        "grant the verifying identity {} (the lane's verify RBAC, pipelines/rbac.yaml from `lane generate`; docs/verify.md lists every permission verify needs)",
        rules.join("; ")
    )
}

/// `r`, or the failed check `id` when the API server refused its request.
pub fn or_forbidden(
    group: Group,
    id: &str,
    r: Result<Check, KubeError>,
) -> Result<Check, KubeError> {
    match r {
        Err(KubeError::Forbidden {
            access, message, ..
        }) => Ok(forbidden_check(group, id, &access, &message)),
        r => r,
    }
}

/// A check failed because a permission is missing: waiting will not change that.
pub fn is_forbidden(c: &Check) -> bool {
    c.status == Status::Fail
        && c.evidence
            .get("forbidden")
            .and_then(Value::as_array)
            .is_some_and(|a| !a.is_empty())
}

#[derive(Debug, Clone, Default, Serialize, serde::Deserialize)]
pub struct Summary {
    pub pass: usize,
    pub fail: usize,
    pub skip: usize,
    /// Ids of the failed checks.
    pub failed: Vec<String>,
}

#[derive(Debug, Clone, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WaitInfo {
    pub deadline: String,
    pub attempts: u32,
    /// u64, not u128: a flattened report (output::Document) cannot read a u128 back.
    pub elapsed_ms: u64,
    /// True when the polled checks passed before the deadline.
    pub satisfied: bool,
    /// Times lane asked Argo CD to refresh the Application (its revision was behind the
    /// GitOps head), instead of waiting for Argo CD's own poll.
    pub argo_refreshes: u32,
    /// Why a refresh could not be asked for (e.g. the `patch` permission is missing).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub argo_refresh_problem: Option<String>,
    /// Why polling stopped before the deadline without success (a missing permission).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stopped: Option<String>,
}

#[derive(Debug, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VerifyReport {
    pub lane: Option<String>,
    pub commit: Commit,
    pub gitops: Option<GitopsHead>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_server: Option<String>,
    pub groups: Vec<Group>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wait: Option<WaitInfo>,
    pub checks: Vec<Check>,
    pub summary: Summary,
}

impl Report for VerifyReport {
    fn text(&self) -> String {
        let mut s = format!(
            "verify {} at {}\n",
            self.lane.as_deref().unwrap_or("?"),
            &self.commit
        );
        for c in &self.checks {
            let mark = match c.status {
                Status::Pass => "pass",
                Status::Fail => "FAIL",
                Status::Skip => "skip",
            };
            s.push_str(&format!("  {mark}  {:40} {}\n", c.id, c.message));
            if let Some(h) = &c.hint {
                s.push_str(&format!("        hint: {h}\n"));
            }
        }
        s.push_str(&format!(
            "{} passed, {} failed, {} skipped\n",
            self.summary.pass, self.summary.fail, self.summary.skip
        ));
        s
    }
    fn failed(&self) -> bool {
        self.summary.fail > 0
    }
}

/// Everything the checks read, gathered once: the lane, the source commit, and the GitOps
/// branch's head, catalog and runtime tree.
pub struct Evidence {
    pub lane: Lane,
    /// Where the lane names came from (a file or `<commit>:deploy/deploy.json`).
    pub lane_origin: String,
    pub repo: Repo,
    /// The verified source commit.
    pub commit: Commit,
    pub gitops_head: Option<GitopsHead>,
    /// The catalog at the GitOps head, or why there is none.
    pub catalog: Result<Catalog, CatalogProblem>,
    /// The runtime tree at the GitOps head.
    pub tree: Tree,
}

/// Why the catalog could not be used.
#[derive(Debug, Clone)]
pub enum CatalogProblem {
    NoBranch,
    Missing,
    Invalid {
        message: String,
        findings: Vec<crate::model::Finding>,
    },
}

impl CatalogProblem {
    pub fn describe(&self, ctx_branch: &str, path: &str) -> String {
        match self {
            CatalogProblem::NoBranch => format!("the GitOps branch {ctx_branch} does not exist"),
            CatalogProblem::Missing => format!("{ctx_branch} has no {path}"),
            CatalogProblem::Invalid { message, .. } => message.clone(),
        }
    }
}

impl Evidence {
    pub fn catalog(&self) -> Option<&Catalog> {
        self.catalog.as_ref().ok()
    }
}

/// The former name of [`Evidence`], kept while `lane status` (src/status, being written now)
/// still uses it; remove once it names [`Evidence`].
pub type Ctx = Evidence;

pub fn selected_groups(only: &[Group], skip: &[Group]) -> Vec<Group> {
    let mut set: Vec<Group> = if only.is_empty() {
        Group::ORDER.to_vec()
    } else {
        only.iter()
            .flat_map(|g| g.expand().iter().copied())
            .collect()
    };
    let skipped: Vec<Group> = skip
        .iter()
        .flat_map(|g| g.expand().iter().copied())
        .collect();
    set.retain(|g| !skipped.contains(g));
    set.sort();
    set.dedup();
    set
}

/// `--pipeline-run` (verify and status) becomes part of an API path: only an object name,
/// never `../` or a query.
pub fn check_pipeline_run_name(name: &str) -> Result<(), VerifyError> {
    if crate::model::rules::is_dns1123_subdomain(name) {
        return Ok(());
    }
    Err(VerifyError::PipelineRunName {
        shown: clip(name, 100),
    })
}

/// Why `lane verify` could not run its checks at all (a failed check is a report, not this).
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("--only/--skip leave no group to run")]
    NoGroups,
    #[error("--pipeline-run '{shown}' is not a Kubernetes object name (rule dns1123-subdomain)")]
    PipelineRunName { shown: String },
}

impl Classified for VerifyError {
    fn class(&self) -> ExitClass {
        match self {
            VerifyError::NoGroups => ExitClass::Usage,
            VerifyError::PipelineRunName { .. } => ExitClass::Rejected,
        }
    }
    fn hint(&self) -> Option<String> {
        Some(match self {
            VerifyError::NoGroups => "groups: live, argo, gitops, tekton, source, static".into(),
            VerifyError::PipelineRunName { .. } => {
                "pass the PipelineRun's name, e.g. agentrun-v01-ci-0123456789ab-x7k2p".into()
            }
        })
    }
}

pub fn run(args: &VerifyArgs) -> Result<Outcome, Failure> {
    let groups = selected_groups(&args.only, &args.skip);
    if groups.is_empty() {
        return Err(VerifyError::NoGroups.into());
    }
    args.gitops.check()?;
    if let Some(name) = &args.pipeline_run {
        check_pipeline_run_name(name)?;
    }
    let repo = Repo::open(&args.repo)?;
    let commit = repo.resolve_commit(&args.commit)?;
    output::progress(format!("verifying source commit {commit}"));

    let (lane, lane_origin) = match &args.deploy {
        Some(p) => (Lane::load(p, None)?, p.display().to_string()),
        None => match source::lane_at(&repo, &commit) {
            Ok(l) => (l, crate::model::at_commit::deploy_file_at(&commit)),
            Err(check) => {
                // Without a valid deploy.json there are no lane names to check anything
                // against: report that one failure and skip the rest.
                return Outcome::of(&unusable_intent(&groups, commit, *check));
            }
        },
    };

    let (gitops_head, catalog, tree) = read_gitops(&repo, &lane, &args.gitops)?;
    let ctx = Evidence {
        lane,
        lane_origin,
        repo,
        commit,
        gitops_head,
        catalog,
        tree,
    };

    let client = if groups.iter().any(|g| g.needs_cluster()) {
        Some(args.kube.client()?.1)
    } else {
        None
    };

    let rt = RuntimeError::runtime()?;
    let (checks, wait) = rt.block_on(run_groups(&ctx, client.as_ref(), &groups, args))?;

    let report = finish_report(
        Some(ctx.lane.names.version.to_string()),
        ctx.commit.clone(),
        ctx.gitops_head.clone(),
        client.as_ref().map(|c| c.server().to_string()),
        groups,
        wait,
        checks,
    );
    Outcome::of(&report)
}

/// The GitOps head, the catalog on it (or why there is none) and its runtime tree: what the
/// checks read (also `lane status`, src/status/gather.rs).
#[allow(clippy::type_complexity)]
pub fn read_gitops(
    repo: &Repo,
    lane: &Lane,
    gitops: &GitopsArgs,
) -> Result<(Option<GitopsHead>, Result<Catalog, CatalogProblem>, Tree), Failure> {
    let gitops_head = crate::git::gitops::head(repo, &lane.names.gitops_branch, gitops)?;
    let catalog = match &gitops_head {
        None => Err(CatalogProblem::NoBranch),
        Some(h) => match crate::model::catalog_at::catalog_at(repo, &lane.names, h) {
            Ok(Some(c)) => Ok(c),
            Ok(None) => Err(CatalogProblem::Missing),
            Err(crate::model::CatalogAtError::Catalog(e)) => Err(CatalogProblem::Invalid {
                message: crate::error::chain(&e),
                findings: e.findings(),
            }),
            Err(e) => return Err(e.into()),
        },
    };
    let tree = match &gitops_head {
        Some(h) => Tree::load(repo, &h.commit, &lane.names.runtime_path)?,
        None => Tree::default(),
    };
    Ok((gitops_head, catalog, tree))
}

/// Ask Argo CD to refresh at most this often while its revision is behind.
const REFRESH_EVERY: Duration = Duration::from_secs(10);
/// Longest pause between two polls of `--wait`.
const MAX_POLL_INTERVAL: Duration = Duration::from_secs(2);

/// A group's checks, or its one failed `<group>.access` check when the API server refused a
/// request no single check owns.
fn group_result(group: Group, r: Result<Vec<Check>, KubeError>) -> Result<Vec<Check>, KubeError> {
    match r {
        Err(KubeError::Forbidden {
            access, message, ..
        }) => Ok(vec![forbidden_check(
            group,
            format!("{}.access", group.as_str()),
            &access,
            &message,
        )]),
        r => r,
    }
}

async fn run_groups(
    ctx: &Evidence,
    client: Option<&kube::Client>,
    groups: &[Group],
    args: &VerifyArgs,
) -> Result<(Vec<Check>, Option<WaitInfo>), KubeError> {
    let has = |g: Group| groups.contains(&g);
    let start = Instant::now();
    // With --wait, a throttled (429) or failing (5xx) API server is retried until the
    // deadline rather than ending the run.
    let waiting_client = match (client, args.wait) {
        (Some(c), Some(d)) => Some(c.retrying_until(start + d)),
        (c, _) => c.cloned(),
    };
    let client = waiting_client.as_ref();
    // Live and Argo are what changes while Argo CD syncs: poll them together.
    let mut attempts = 0u32;
    let mut interval = Duration::from_millis(500);
    let mut refreshes = 0u32;
    let mut last_refresh: Option<Instant> = None;
    let mut refresh_problem = None;
    let mut stopped = None;
    let (live_checks, argo_checks, satisfied) = loop {
        attempts += 1;
        let mut lc = Vec::new();
        let mut ac = Vec::new();
        if let Some(c) = client {
            if has(Group::Live) {
                output::progress("live runtime");
                lc = group_result(Group::Live, live::run(ctx, c).await)?;
            }
            if has(Group::Argo) {
                output::progress("Argo CD desired state");
                match argo::run(ctx, c).await {
                    Ok(r) => {
                        ac = r.checks;
                        let due = last_refresh.is_none_or(|t| t.elapsed() >= REFRESH_EVERY);
                        if args.wait.is_some()
                            && r.behind
                            && !r.refresh_pending
                            && due
                            && refresh_problem.is_none()
                        {
                            last_refresh = Some(Instant::now());
                            match argo::request_refresh(ctx, c).await {
                                Ok(()) => {
                                    refreshes += 1;
                                    output::progress("Argo CD is behind the GitOps head: asked it to refresh the Application");
                                }
                                Err(e) => {
                                    let why = match &e {
                                        KubeError::Forbidden { access, .. } => format!(
                                            "forbidden: the verifying identity may not {}; {}",
                                            access.describe(),
                                            forbidden_hint(std::slice::from_ref(access))
                                        ),
                                        e => e.to_string(),
                                    };
                                    output::progress(format!("cannot ask Argo CD to refresh ({why}); waiting for its own poll"));
                                    refresh_problem = Some(why);
                                }
                            }
                        }
                    }
                    Err(e) => ac = group_result(Group::Argo, Err(e))?,
                }
            }
        }
        let ok = !lc.iter().chain(ac.iter()).any(|c| c.status == Status::Fail);
        let Some(deadline) = args.wait else {
            break (lc, ac, ok);
        };
        if ok || !(has(Group::Live) || has(Group::Argo)) {
            break (lc, ac, ok);
        }
        if let Some(c) = lc.iter().chain(ac.iter()).find(|c| is_forbidden(c)) {
            let why = format!(
                "{} failed for a missing permission; waiting cannot fix that",
                c.id
            );
            output::progress(format!("--wait: {why}"));
            stopped = Some(why);
            break (lc, ac, false);
        }
        let elapsed = start.elapsed();
        if elapsed >= deadline {
            output::progress(format!(
                "--wait {}: not synced and healthy after {attempts} attempt(s); reporting the last observed state",
                fmt_duration(deadline)
            ));
            break (lc, ac, false);
        }
        let sleep = interval.min(deadline - elapsed);
        output::progress(format!(
            "not yet synced and healthy; polling again in {}",
            fmt_duration(sleep)
        ));
        tokio::time::sleep(sleep).await;
        // A poll is a handful of GETs (about 0.2 s of lane's time): capped at 2 s, a rollout
        // is seen within 2 s of finishing (a 10 s cap cost up to 10 s per release;
        // docs/benchmarks.md, cd_release).
        interval = (interval * 2).min(MAX_POLL_INTERVAL);
    };
    let wait = args.wait.map(|d| WaitInfo {
        deadline: fmt_duration(d),
        attempts,
        elapsed_ms: u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX),
        satisfied,
        argo_refreshes: refreshes,
        argo_refresh_problem: refresh_problem,
        stopped,
    });

    let mut checks = Vec::new();
    checks.extend(live_checks);
    checks.extend(argo_checks);
    if has(Group::Gitops) {
        output::progress("GitOps branch");
        checks.extend(gitops::run(ctx));
        if let Some(allowed) = &args.allowed_signers {
            checks.push(gitops::signature_check(ctx, allowed));
        }
    }
    if has(Group::Tekton) {
        if let Some(c) = client {
            output::progress("Tekton evidence");
            checks.extend(group_result(
                Group::Tekton,
                tekton::run(ctx, c, args.pipeline_run.as_deref()).await,
            )?);
        }
    }
    if has(Group::Source) {
        output::progress("source");
        checks.extend(source::run(ctx));
    }
    Ok((checks, wait))
}

fn finish_report(
    lane: Option<String>,
    commit: Commit,
    gitops: Option<GitopsHead>,
    api_server: Option<String>,
    groups: Vec<Group>,
    wait: Option<WaitInfo>,
    checks: Vec<Check>,
) -> VerifyReport {
    let mut summary = Summary::default();
    for c in &checks {
        match c.status {
            Status::Pass => summary.pass += 1,
            Status::Fail => {
                summary.fail += 1;
                summary.failed.push(c.id.clone());
            }
            Status::Skip => summary.skip += 1,
        }
    }
    VerifyReport {
        lane,
        commit,
        gitops,
        api_server,
        groups,
        wait,
        checks,
        summary,
    }
}

fn unusable_intent(groups: &[Group], commit: Commit, check: Check) -> VerifyReport {
    let mut checks = Vec::new();
    for g in groups {
        if *g == Group::Source {
            checks.push(check.clone());
        } else {
            checks.push(Check::skip(
                *g,
                g.as_str(),
                format!("no lane names: {DEPLOY_PATH} at the commit is not usable"),
            ));
        }
    }
    if !groups.contains(&Group::Source) {
        checks.push(check);
    }
    finish_report(None, commit, None, None, groups.to_vec(), None, checks)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_select() {
        assert_eq!(
            selected_groups(&[Group::Static], &[]),
            vec![Group::Gitops, Group::Source]
        );
        assert_eq!(
            selected_groups(&[], &[Group::Static, Group::Tekton]),
            vec![Group::Live, Group::Argo]
        );
        assert_eq!(selected_groups(&[], &[]), Group::ORDER.to_vec());
    }
}
