//! Reading a lane once: the source and GitOps branches and the catalog from git, then Argo CD,
//! the live runtime and Tekton through the Kubernetes API, with verify's own readers
//! (src/verify). Whatever cannot be read becomes `unknown` with the reason; only an unusable
//! `--repo`, `--commit` or deploy.json fails the command.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::history;
use super::model::*;
use super::StatusArgs;
use crate::error::Failure;
use crate::git::Repo;
use crate::kube::KubeError;
use crate::model::{rules, Lane, LaneNames};
use crate::output;
use crate::verify::{self, argo, live, tekton, Check, Ctx, Status, Tree};

/// Read everything once and judge each service.
pub fn collect(args: &StatusArgs, rt: &tokio::runtime::Runtime) -> Result<StatusReport, Failure> {
    let repo = Repo::open(&args.repo)?;
    let commit = repo.resolve_commit(&args.commit)?;
    let (lane, lane_origin) = match &args.deploy {
        Some(p) => (Lane::load(p, None)?, p.display().to_string()),
        None => match verify::source::lane_at(&repo, &commit) {
            Ok(l) => (l, crate::model::at_commit::deploy_file_at(&commit)),
            Err(check) => {
                // Without the lane's names there is nothing to look up.
                return Err(super::StatusError::NoLane {
                    message: check.message.clone(),
                    hint: check.hint.clone(),
                    evidence: check.evidence.clone(),
                }
                .into());
            }
        },
    };
    let names = lane.names.clone();
    let source = source_tip(&repo, &names);

    let (gitops_head, catalog, tree, gitops_read_problem) =
        match verify::read_gitops(&repo, &lane, &args.gitops) {
            Ok((h, c, t)) => (h, c, t, None),
            Err(f) => (
                None,
                Err(verify::CatalogProblem::NoBranch),
                Tree::default(),
                Some(f.message),
            ),
        };
    // Why no catalog can be shown, when none can.
    let no_catalog: Option<String> = gitops_read_problem.clone().or_else(|| {
        catalog
            .as_ref()
            .err()
            .map(|p| p.describe(&names.gitops_branch, &names.catalog_path))
    });
    let gitops = match (&gitops_head, &gitops_read_problem) {
        (_, Some(p)) => Known::unknown(p.clone()),
        (None, None) => Known::unknown(match (&args.gitops.gitops_remote, &args.gitops.gitops_ref) {
            (Some(_), _) => format!(
                "the GitOps branch {} does not exist on the GitOps remote",
                names.gitops_branch
            ),
            (None, Some(r)) => format!("the ref {r} (--gitops-ref) does not exist"),
            (None, None) => format!(
                "the GitOps branch {} does not exist here (neither refs/remotes/origin/{0} nor refs/heads/{0}); fetch it or pass --gitops-remote",
                names.gitops_branch
            ),
        }),
        (Some(h), None) => {
            let catalog_source = match &catalog {
                Ok(c) => Known::Yes(c.source_commit.to_string()),
                Err(_) => Known::unknown(no_catalog.clone().unwrap_or_default()),
            };
            let released = match (&source, catalog_source.get()) {
                (Known::Yes(t), Some(c)) => Some(&t.commit == c),
                _ => None,
            };
            Known::Yes(GitopsView {
                branch: names.gitops_branch.to_string(),
                git_ref: h.git_ref.clone(),
                commit: h.commit.clone(),
                catalog_source_commit: catalog_source,
                source_released: released,
                rollback: catalog.as_ref().ok().and_then(|c| c.rollback.as_deref().cloned()),
            })
        }
    };
    let (releases, whole_history) = match (&gitops_head, &gitops) {
        (Some(h), _) => match history::releases(&repo, &names, &h.commit, args.history as usize) {
            Ok((r, whole)) => (Known::Yes(r), whole),
            Err(e) => (
                Known::unknown(format!(
                    "cannot read the GitOps history: {}",
                    crate::error::chain(&e)
                )),
                false,
            ),
        },
        (None, g) => (
            Known::unknown(g.reason().unwrap_or("no GitOps branch").to_string()),
            false,
        ),
    };

    let ctx = Ctx {
        lane,
        lane_origin,
        repo,
        commit,
        gitops_head,
        catalog,
        tree,
    };
    let cluster = read_cluster(&ctx, args, rt);

    let argo_view = argo_view(&ctx, &cluster);
    let mut services = Vec::new();
    for (id, kind) in service_ids(&ctx) {
        let entry = ctx.catalog().and_then(|c| c.services.get(&id));
        let catalog_view = match (entry, &no_catalog) {
            (Some(e), _) => Known::Yes(CatalogView {
                status: serde_json::to_value(e.status)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default(),
                source_commit: e.source_commit.clone(),
                reused_from: e.reused_from.clone(),
                image_repository: e.image_repository.to_string(),
                tag: e.tag.clone(),
                digest: e.digest.to_string(),
                pipeline_run: e.pipeline_run.clone(),
                updated_at: e.updated_at.clone(),
                rollback: e.rollback.clone(),
                entry: serde_json::to_value(e).unwrap_or(Value::Null),
            }),
            (None, Some(r)) => Known::unknown(r.clone()),
            (None, None) => Known::unknown(format!(
                "the catalog on {} has no entry for {id} (not released yet)",
                names.gitops_branch
            )),
        };
        let carry = match (&catalog_view, &ctx.gitops_head) {
            (Known::Yes(c), Some(h)) => {
                let (since, complete) = match &releases {
                    Known::Yes(r) => history::since(r, whole_history, &id, &c.digest),
                    _ => (None, false),
                };
                Known::Yes(Carry {
                    commit: h.commit.clone(),
                    since,
                    since_complete: complete,
                })
            }
            (c, _) => Known::unknown(c.reason().unwrap_or("no GitOps branch").to_string()),
        };
        let argo = argo_resource(&ctx, &cluster, &id);
        let live = live_view(&ctx, &cluster, &id);
        let mut s = ServiceView {
            id,
            kind,
            state: State::Unknown,
            why: Vec::new(),
            catalog: catalog_view,
            gitops: carry,
            argo,
            live,
        };
        let (state, why) = judge(&s, &argo_view);
        s.state = state;
        s.why = why;
        services.push(s);
    }
    let mut summary = Counts::default();
    for s in &services {
        match s.state {
            State::Current => summary.current += 1,
            State::Progressing => summary.progressing += 1,
            State::Degraded => summary.degraded += 1,
            State::Unknown => summary.unknown += 1,
        }
    }
    let n = &ctx.lane.names;
    Ok(StatusReport {
        lane: n.version.to_string(),
        observed_at: rules::now_rfc3339(),
        names: Where {
            namespace: n.namespace.to_string(),
            argo_application: format!("{}/{}", n.argo_namespace, n.argo_application),
            pipeline: format!("{}/{}", n.tekton_namespace, n.pipeline),
            catalog_path: n.catalog_path.to_string(),
            runtime_path: n.runtime_path.to_string(),
            api_server: cluster.api_server.clone(),
        },
        source,
        gitops,
        argo: argo_view,
        pipeline_run: pipeline_run(&cluster),
        services,
        summary,
        releases,
    })
}

/// The source branch tip the repository holds: the remote-tracking ref first (what was
/// fetched), else the local branch.
fn source_tip(repo: &Repo, names: &LaneNames) -> Known<Tip> {
    let candidates = [
        format!("refs/remotes/origin/{}", names.source_branch),
        names.source_ref(),
    ];
    for r in &candidates {
        match repo.ref_target(r) {
            Ok(Some(id)) => match repo.resolve_commit(&id) {
                Ok(c) => {
                    return Known::Yes(Tip {
                        branch: names.source_branch.to_string(),
                        git_ref: r.clone(),
                        commit: c,
                    })
                }
                Err(e) => return Known::unknown(format!("{r}: {e}")),
            },
            Ok(None) => {}
            Err(e) => return Known::unknown(format!("{r}: {e}")),
        }
    }
    Known::unknown(format!(
        "the repository holds neither {} nor {}; fetch the source branch",
        candidates[0], candidates[1]
    ))
}

/// Services of deploy.json (enabled ones), then catalog entries deploy.json no longer has.
fn service_ids(ctx: &Ctx) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = ctx
        .lane
        .intent()
        .enabled_services()
        .map(|s| {
            let kind = serde_json::to_value(s.kind)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default();
            (s.id.to_string(), kind)
        })
        .collect();
    if let Some(c) = ctx.catalog() {
        for (id, e) in &c.services {
            if !out.iter().any(|(o, _)| o == id) {
                let kind = serde_json::to_value(e.component.kind)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default();
                out.push((id.clone(), kind));
            }
        }
    }
    out
}

/// What was read from the Kubernetes API, or why it could not be.
struct Cluster {
    api_server: Option<String>,
    live: Result<Vec<Check>, String>,
    argo: Result<Vec<Check>, String>,
    app: Result<Option<Value>, String>,
    runs: Result<Option<Vec<Value>>, String>,
}

/// A Kubernetes error as one line of advice.
fn reason(e: KubeError) -> String {
    let f = Failure::from(e);
    match f.hint {
        Some(h) => format!("{} ({h})", f.message),
        None => f.message,
    }
}

fn read_cluster(ctx: &Ctx, args: &StatusArgs, rt: &tokio::runtime::Runtime) -> Cluster {
    let client = args.kube.client().map(|(_, c)| c).map_err(reason);
    let client = match client {
        Ok(c) => c,
        Err(r) => {
            output::progress(format!("no Kubernetes API: {r}"));
            return Cluster {
                api_server: None,
                live: Err(r.clone()),
                argo: Err(r.clone()),
                app: Err(r.clone()),
                runs: Err(r),
            };
        }
    };
    let n = &ctx.lane.names;
    let runs = async {
        match &args.pipeline_run {
            Some(name) => {
                let path = format!(
                    "/apis/tekton.dev/v1/namespaces/{}/pipelineruns/{name}",
                    n.tekton_namespace
                );
                client
                    .get_json(&path)
                    .await
                    .map(|r| Some(r.into_iter().collect()))
            }
            None => tekton::list_runs(&client, n, &n.pipeline_run_prefix).await,
        }
    };
    // The four reads are independent: together, an unreachable API costs one timeout.
    let app_path = argo::app_path(ctx);
    let (live, argo, app, runs) = rt.block_on(async {
        tokio::join!(
            live::run(ctx, &client),
            argo::run(ctx, &client),
            client.get_json(&app_path),
            runs
        )
    });
    Cluster {
        api_server: Some(client.server().to_string()),
        live: live.map_err(reason),
        argo: argo.map(|r| r.checks).map_err(reason),
        app: app.map_err(reason),
        runs: runs.map_err(reason),
    }
}

fn find<'a>(checks: &'a [Check], id: &str) -> Option<&'a Check> {
    checks.iter().find(|c| c.id == id)
}

fn s<'a>(v: &'a Value, ptr: &str) -> &'a str {
    v.pointer(ptr).and_then(Value::as_str).unwrap_or("")
}

fn opt(v: &Value, ptr: &str) -> Option<String> {
    v.pointer(ptr)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(|s| verify::clip(s, 500))
}

fn argo_view(ctx: &Ctx, cluster: &Cluster) -> Known<ArgoView> {
    let n = &ctx.lane.names;
    let checks = match &cluster.argo {
        Ok(c) => c,
        Err(r) => return Known::unknown(r.clone()),
    };
    let application = format!("{}/{}", n.argo_namespace, n.argo_application);
    match find(checks, "argo.revision") {
        Some(c) if c.status != Status::Skip => {
            let ev = &c.evidence;
            let rev = s(ev, "/syncRevision").to_string();
            let head = s(ev, "/gitopsHead");
            Known::Yes(ArgoView {
                application,
                sync_status: s(ev, "/syncStatus").to_string(),
                at_gitops_tip: (!head.is_empty()).then(|| rev == head),
                sync_revision: rev,
                deployed_revision: opt(ev, "/deployedRevision"),
                health: s(ev, "/health").to_string(),
                operation_phase: opt(ev, "/operationPhase"),
                operation_message: opt(ev, "/operationMessage"),
                not_ready: match &cluster.app {
                    Ok(Some(app)) => not_ready(app),
                    _ => Vec::new(),
                },
            })
        }
        _ => Known::unknown(
            find(checks, "argo.application")
                .map(|c| c.message.clone())
                .unwrap_or_else(|| format!("no Application {application}")),
        ),
    }
}

/// `Kind/name: sync, health` of each resource Argo CD does not report Synced and Healthy
/// (a resource without health, such as a ConfigMap, counts as healthy).
fn not_ready(app: &Value) -> Vec<String> {
    app.pointer("/status/resources")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|r| {
            let h = s(r, "/health/status");
            s(r, "/status") != "Synced" || !(h.is_empty() || h == "Healthy")
        })
        .take(20)
        .map(|r| {
            verify::clip(
                &format!(
                    "{}/{}: {}{}",
                    s(r, "/kind"),
                    s(r, "/name"),
                    or_unknown(s(r, "/status")),
                    match s(r, "/health/status") {
                        "" => String::new(),
                        h => format!(", {h}"),
                    }
                ),
                200,
            )
        })
        .collect()
}

fn or_unknown(s: &str) -> &str {
    if s.is_empty() {
        "unknown"
    } else {
        s
    }
}

/// The service's workload objects in the runtime tree: (kind, name).
fn workloads(ctx: &Ctx, id: &str) -> Vec<(String, String)> {
    ctx.tree
        .objects
        .iter()
        .filter(|o| {
            matches!(o.kind(), "Deployment" | "CronJob" | "StatefulSet" | "Job")
                && (o.service() == Some(id) || (o.service().is_none() && o.name() == id))
        })
        .map(|o| (o.kind().to_string(), o.name().to_string()))
        .collect()
}

fn argo_resource(ctx: &Ctx, cluster: &Cluster, id: &str) -> Known<ArgoResource> {
    let app = match &cluster.app {
        Err(r) => return Known::unknown(r.clone()),
        Ok(None) => {
            let n = &ctx.lane.names;
            return Known::unknown(format!(
                "Application {}/{} does not exist",
                n.argo_namespace, n.argo_application
            ));
        }
        Ok(Some(a)) => a,
    };
    let wl = workloads(ctx, id);
    if ctx.gitops_head.is_none() {
        return Known::unknown("no GitOps tip to find the service's workload in");
    }
    let Some((kind, name)) = wl.first() else {
        return Known::unknown(format!(
            "the runtime tree at the GitOps tip has no workload of {id}"
        ));
    };
    let resources = app
        .pointer("/status/resources")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    let ns = &ctx.lane.names.namespace;
    match resources.iter().find(|r| {
        s(r, "/kind") == kind
            && s(r, "/name") == name
            && (s(r, "/namespace").is_empty() || s(r, "/namespace") == ns.as_str())
    }) {
        Some(r) => Known::Yes(ArgoResource {
            kind: kind.clone(),
            name: name.clone(),
            sync_status: verify::clip(s(r, "/status"), 40),
            health: verify::clip(s(r, "/health/status"), 40),
            health_message: verify::clip(s(r, "/health/message"), 300),
        }),
        None => Known::unknown(format!(
            "the Application does not list {kind}/{name} among its resources (not synced yet)"
        )),
    }
}

fn int(v: &Value, ptr: &str) -> Option<i64> {
    v.pointer(ptr).and_then(Value::as_i64)
}

fn live_view(ctx: &Ctx, cluster: &Cluster, id: &str) -> Known<LiveView> {
    let checks = match &cluster.live {
        Ok(c) => c,
        Err(r) => return Known::unknown(r.clone()),
    };
    let mut v = LiveView {
        runs_catalog_digest: true,
        ..Default::default()
    };
    if let Some(c) = find(checks, "live.namespace") {
        if c.status == Status::Fail && !verify::is_forbidden(c) {
            // The namespace is gone or going: nothing of the lane runs.
            v.stuck = true;
            v.problems.push(c.message.clone());
            return Known::Yes(v);
        }
    }
    let Some(images) = find(checks, "live.images") else {
        return Known::unknown("the live runtime was not read");
    };
    if images.status == Status::Skip {
        return Known::unknown(images.message.clone());
    }
    if verify::is_forbidden(images) {
        return Known::unknown(images.message.clone());
    }
    let Some(ev) = images.evidence.get(id) else {
        return Known::unknown(format!("no catalog entry of {id} to compare pods with"));
    };
    let prefix = format!("{id}: ");
    v.problems.extend(
        images
            .evidence
            .get("problems")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .filter_map(|p| p.strip_prefix(&prefix))
            .map(|p| verify::clip(p, 300)),
    );
    let mut digests: BTreeMap<String, usize> = BTreeMap::new();
    for pod in ev
        .get("pods")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        v.pods += 1;
        if s(pod, "/phase") != "Running" {
            continue;
        }
        v.running_pods += 1;
        let ctrs: Vec<&Value> = pod
            .get("containers")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .collect();
        let main: Vec<&&Value> = ctrs
            .iter()
            .filter(|c| c.get("init") != Some(&json!(true)))
            .collect();
        for c in &ctrs {
            let want = s(c, "/expectedDigest");
            if let live::ImageId::Registry(d) = live::parse_image_id(s(c, "/imageID")) {
                if !want.is_empty() && d != want {
                    v.runs_catalog_digest = false;
                }
            } else if c.get("judged") == Some(&json!(true)) {
                v.runs_catalog_digest = false;
            }
        }
        let ready = !main.is_empty() && main.iter().all(|c| c.get("ready") == Some(&json!(true)));
        if ready {
            v.ready_pods += 1;
            let mut seen: Vec<String> = main
                .iter()
                .filter_map(|c| match live::parse_image_id(s(c, "/imageID")) {
                    live::ImageId::Registry(d) => Some(d.to_string()),
                    _ => None,
                })
                .collect();
            seen.sort();
            seen.dedup();
            for d in seen {
                *digests.entry(d).or_default() += 1;
            }
        }
    }
    v.ready_digests = digests
        .into_iter()
        .map(|(digest, pods)| DigestCount { digest, pods })
        .collect();
    for (kind, name) in workloads(ctx, id) {
        v.workload.get_or_insert_with(|| format!("{kind}/{name}"));
        match kind.as_str() {
            "Deployment" => {
                let Some(c) = find(checks, &format!("live.deployment.{name}.rollout")) else {
                    continue;
                };
                if verify::is_forbidden(c) {
                    v.problems.push(c.message.clone());
                    continue;
                }
                let ev = &c.evidence;
                if ev.get("replicas").is_none() {
                    // The Deployment does not exist.
                    v.stuck = true;
                    v.problems.push(c.message.clone());
                    continue;
                }
                v.replicas = int(ev, "/replicas");
                v.ready_replicas = int(ev, "/readyReplicas");
                v.updated_replicas = int(ev, "/updatedReplicas");
                if s(ev, "/progressing/reason") == "ProgressDeadlineExceeded" {
                    v.stuck = true;
                    v.problems.insert(0, verify::clip(&c.message, 300));
                }
            }
            "CronJob" => {
                if let Some(c) = find(checks, &format!("live.cronjob.{name}.image")) {
                    match c.status {
                        Status::Pass => v.runner_pins_catalog = Some(true),
                        Status::Fail if verify::is_forbidden(c) => {
                            v.problems.push(c.message.clone())
                        }
                        Status::Fail => {
                            v.runner_pins_catalog = Some(false);
                            v.problems.push(verify::clip(&c.message, 300));
                        }
                        Status::Skip => {}
                    }
                }
            }
            _ => {}
        }
    }
    if let Some(c) = find(checks, &format!("live.health.{id}")) {
        if verify::is_forbidden(c) {
            v.problems.push(c.message.clone());
        } else {
            v.health = Some(verify::clip(&c.message, 200));
            v.health_ok = Some(c.status == Status::Pass);
        }
    }
    Known::Yes(v)
}

fn pipeline_run(cluster: &Cluster) -> Known<Option<RunView>> {
    let runs = match &cluster.runs {
        Err(r) => return Known::unknown(r.clone()),
        Ok(None) => {
            return Known::unknown("the API server does not serve tekton.dev/v1 PipelineRuns")
        }
        Ok(Some(r)) => r,
    };
    let Some(pr) = runs.first() else {
        return Known::Yes(None);
    };
    let cond = crate::kube::condition(pr, "Succeeded");
    let outcome = match s(cond, "/status") {
        "True" => "succeeded",
        "False" => "failed",
        _ => "running",
    };
    // The Pipeline's `commit` result once plan ran, else a `revision` param that is a commit.
    let named = |ptr: &str, name: &str| {
        pr.pointer(ptr)
            .and_then(Value::as_array)
            .and_then(|ps| ps.iter().find(|p| s(p, "/name") == name))
            .and_then(|p| p.get("value"))
            .and_then(Value::as_str)
            .and_then(|c| crate::model::Commit::try_from(c.trim()).ok())
    };
    let commit = named("/status/results", "commit").or_else(|| named("/spec/params", "revision"));
    Known::Yes(Some(RunView {
        name: verify::clip(s(pr, "/metadata/name"), 253),
        namespace: verify::clip(s(pr, "/metadata/namespace"), 63),
        outcome: outcome.into(),
        reason: verify::clip(s(cond, "/reason"), 100),
        message: verify::clip(s(cond, "/message"), 300),
        commit,
        start_time: opt(pr, "/status/startTime"),
        completion_time: opt(pr, "/status/completionTime"),
    }))
}
