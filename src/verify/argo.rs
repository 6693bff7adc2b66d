//! Group 2, Argo CD desired state, read through the Kubernetes API (the Application and
//! AppProject custom resources): source is the GitOps branch and runtime path, destination
//! the lane namespace, synced to the GitOps head and healthy; the project allows only the
//! lane namespace.

use serde_json::{json, Value};

use super::{forbidden_check, or_forbidden, Check, Evidence, Group};
use crate::kube::{Client, KubeError};

const G: Group = Group::Argo;

const API: &str = "/apis/argoproj.io/v1alpha1";

fn s<'a>(v: &'a Value, ptr: &str) -> &'a str {
    v.pointer(ptr).and_then(Value::as_str).unwrap_or("")
}

/// `git@host:org/repo.git`, `ssh://git@host/org/repo`, `https://host/org/repo.git` all name
/// the same repository.
pub fn normalize_repo_url(u: &str) -> String {
    let u = u.trim().trim_end_matches('/');
    let u = u.strip_suffix(".git").unwrap_or(u);
    let rest = if let Some((_, r)) = u.split_once("://") {
        r.to_string()
    } else if let Some((userhost, path)) = u.split_once(':') {
        format!("{userhost}/{path}")
    } else {
        u.to_string()
    };
    let rest = rest
        .rsplit_once('@')
        .map(|(_, h)| h.to_string())
        .unwrap_or(rest);
    match rest.split_once('/') {
        Some((host, path)) => format!("{}/{}", host.to_ascii_lowercase(), path),
        None => rest.to_ascii_lowercase(),
    }
}

/// The Argo group's checks and what `--wait` needs to know about the Application.
pub struct ArgoRun {
    pub checks: Vec<Check>,
    /// The Application exists and its synced revision is not the GitOps head.
    pub behind: bool,
    /// A refresh annotation is still on the Application (Argo CD removes it once done).
    pub refresh_pending: bool,
}

/// Argo CD's annotation asking its controller to refresh an Application now rather than at
/// its next poll (3 minutes by default); Argo CD removes it when the refresh is done.
pub const REFRESH_ANNOTATION: &str = "argocd.argoproj.io/refresh";

pub fn app_path(ctx: &Evidence) -> String {
    let n = &ctx.lane.names;
    format!(
        "{API}/namespaces/{}/applications/{}",
        n.argo_namespace, n.argo_application
    )
}

/// Ask Argo CD to refresh the lane's Application (a merge patch of the refresh annotation,
/// `normal`: re-resolve the branch and compare; `hard` would also drop the manifest cache).
pub async fn request_refresh(ctx: &Evidence, client: &Client) -> Result<(), KubeError> {
    let patch = json!({"metadata": {"annotations": {REFRESH_ANNOTATION: "normal"}}});
    client.merge_patch(&app_path(ctx), &patch).await.map(|_| ())
}

pub async fn run(ctx: &Evidence, client: &Client) -> Result<ArgoRun, KubeError> {
    let n = &ctx.lane.names;
    let mut out = Vec::new();
    let app_path = app_path(ctx);
    let mut behind = false;
    let mut refresh_pending = false;
    let app = match client.get_json(&app_path).await {
        Ok(a) => Some(a),
        Err(KubeError::Forbidden {
            access, message, ..
        }) => {
            out.push(forbidden_check(G, "argo.application", &access, &message));
            None
        }
        Err(e) => return Err(e),
    };
    match &app {
        None | Some(None) => {
            if app.is_some() {
                out.push(Check::fail(
                    G,
                    "argo.application",
                    format!(
                        "Application {}/{} does not exist",
                        n.argo_namespace, n.argo_application
                    ),
                    json!({"path": app_path}),
                    "apply the lane's Argo CD bootstrap (gitops/ from `lane generate`)",
                ));
            }
            for id in [
                "argo.source",
                "argo.destination",
                "argo.revision",
                "argo.operation",
                "argo.sync",
                "argo.health",
            ] {
                out.push(Check::skip(G, id, "no Application to look at"));
            }
        }
        Some(Some(app)) => {
            let project = s(app, "/spec/project");
            out.push(Check::judge(
                G,
                "argo.application",
                format!("Application {}/{} in project {project}", n.argo_namespace, n.argo_application),
                if project == n.argo_project {
                    vec![]
                } else {
                    vec![format!("the Application is in project '{project}', not the lane's '{}'", n.argo_project)]
                },
                json!({"application": n.argo_application, "namespace": n.argo_namespace, "project": project}),
                "the lane's Application belongs to the lane's AppProject, which limits it to the lane namespace",
            ));
            let (checks, is_behind) = app_checks(ctx, app);
            out.extend(checks);
            behind = is_behind;
            refresh_pending = app
                .pointer("/metadata/annotations")
                .and_then(|a| a.get(REFRESH_ANNOTATION))
                .is_some();
        }
    }
    out.push(or_forbidden(
        G,
        "argo.project-destinations",
        project_check(ctx, client).await,
    )?);
    Ok(ArgoRun {
        checks: out,
        behind,
        refresh_pending,
    })
}

/// A source that only lends its repository to the others (`ref` without `path` or `chart`,
/// for Helm value files) renders no manifests.
fn renders_manifests(src: &Value) -> bool {
    !(src.get("ref").is_some() && src.get("path").is_none() && src.get("chart").is_none())
}

/// The lane's source among the Application's, with its index in `spec.sources` (which is
/// also its index in `status.sync.revisions`): `None` index for a single-source
/// Application (`spec.source`).
fn lane_source<'a>(ctx: &Evidence, app: &'a Value) -> (Option<usize>, Option<&'a Value>) {
    let n = &ctx.lane.names;
    match app.pointer("/spec/sources").and_then(Value::as_array) {
        Some(srcs) if !srcs.is_empty() => {
            let same_repo = |v: &Value| {
                normalize_repo_url(s(v, "/repoURL")) == normalize_repo_url(&n.gitops_repo)
            };
            let same_path = |v: &Value| {
                s(v, "/path").trim_end_matches('/') == n.runtime_path.trim_end_matches('/')
            };
            let i = srcs
                .iter()
                .position(|v| same_repo(v) && same_path(v))
                .or_else(|| srcs.iter().position(same_repo))
                .unwrap_or(0);
            (Some(i), srcs.get(i))
        }
        _ => (None, app.pointer("/spec/source")),
    }
}

fn app_checks(ctx: &Evidence, app: &Value) -> (Vec<Check>, bool) {
    let n = &ctx.lane.names;
    let mut out = Vec::new();
    // A single-source Application has spec.source; a multi-source one spec.sources, whose
    // revisions Argo CD reports in status.sync.revisions in the same order.
    let (index, src) = lane_source(ctx, app);
    let src = src.cloned().unwrap_or(Value::Null);
    let repo = s(&src, "/repoURL");
    let rev = s(&src, "/targetRevision");
    let path = s(&src, "/path");
    let mut problems = Vec::new();
    if normalize_repo_url(repo) != normalize_repo_url(&n.gitops_repo) {
        problems.push(format!(
            "repoURL '{repo}' is not the lane's GitOps repository '{}'",
            n.gitops_repo
        ));
    }
    let rev_ok = rev == n.gitops_branch || rev == format!("refs/heads/{}", n.gitops_branch);
    if !rev_ok {
        problems.push(format!(
            "targetRevision '{rev}' is not the GitOps branch '{}'",
            n.gitops_branch
        ));
    }
    if path.trim_end_matches('/') != n.runtime_path.trim_end_matches('/') {
        problems.push(format!(
            "path '{path}' is not the runtime path '{}'",
            n.runtime_path
        ));
    }
    let sources = app.pointer("/spec/sources").and_then(Value::as_array);
    for (i, other) in sources.into_iter().flatten().enumerate() {
        if Some(i) != index && renders_manifests(other) {
            problems.push(format!(
                "spec.sources[{i}] ({} path '{}') adds manifests besides the lane's runtime path; the lane's desired state is that one path",
                s(other, "/repoURL"),
                s(other, "/path")
            ));
        }
    }
    out.push(Check::judge(
        G,
        "argo.source",
        format!("{}:{} of {}", n.gitops_branch, n.runtime_path, n.gitops_repo),
        problems,
        json!({"repoURL": repo, "targetRevision": rev, "path": path, "sourceIndex": index,
               "want": {"repoURL": n.gitops_repo, "targetRevision": n.gitops_branch, "path": n.runtime_path}}),
        "the Application must follow the lane's GitOps branch and runtime path; regenerate it with `lane generate`",
    ));

    let dest_ns = s(app, "/spec/destination/namespace");
    let dest_server = s(app, "/spec/destination/server");
    let dest_name = s(app, "/spec/destination/name");
    out.push(Check::judge(
        G,
        "argo.destination",
        format!("destination namespace {dest_ns}"),
        if dest_ns == n.namespace {
            vec![]
        } else {
            vec![format!("destination namespace '{dest_ns}' is not the lane namespace '{}'", n.namespace)]
        },
        json!({"namespace": dest_ns, "server": dest_server, "name": dest_name, "want": n.namespace}),
        "a lane deploys only into its own namespace (never agentrun_dev/agentrun_prod)",
    ));

    let head = ctx.gitops_head.as_ref().map(|h| h.commit.as_str());
    let synced_rev = match index {
        Some(i) => app
            .pointer(&format!("/status/sync/revisions/{i}"))
            .and_then(Value::as_str)
            .unwrap_or(""),
        None => s(app, "/status/sync/revision"),
    };
    // status.sync.revision is what Argo CD last compared with the live state; the revision it
    // last applied is the newest entry of status.history (written after a successful sync).
    let deployed = app
        .pointer("/status/history")
        .and_then(Value::as_array)
        .and_then(|h| h.last())
        .and_then(|e| match index {
            Some(i) => e
                .pointer(&format!("/revisions/{i}"))
                .and_then(Value::as_str),
            None => e.get("revision").and_then(Value::as_str),
        });
    let op = app.pointer("/status/operationState");
    let op_phase = op.map(|o| s(o, "/phase")).unwrap_or("");
    let op_message = super::clip(op.map(|o| s(o, "/message")).unwrap_or(""), 500);
    let state = json!({
        "syncStatus": s(app, "/status/sync/status"),
        "syncRevision": synced_rev,
        "syncRevisions": app.pointer("/status/sync/revisions"),
        "deployedRevision": deployed,
        "health": s(app, "/status/health/status"),
        "healthMessage": app.pointer("/status/health/message"),
        "operationPhase": op.map(|o| s(o, "/phase")),
        "operationMessage": op.map(|o| s(o, "/message")),
        "operationRevision": op.map(|o| match index {
            Some(i) => o.pointer(&format!("/syncResult/revisions/{i}")).and_then(Value::as_str).unwrap_or(""),
            None => s(o, "/syncResult/revision"),
        }),
        "reconciledAt": app.pointer("/status/reconciledAt"),
        "conditions": app.pointer("/status/conditions"),
    });
    let mut ev = state.clone();
    ev["gitopsHead"] = json!(head);
    let behind = head.is_some_and(|h| synced_rev != h);
    out.push(match head {
        None => Check::fail(
            G,
            "argo.revision",
            format!("the GitOps branch {} does not exist, so no revision can be compared", n.gitops_branch),
            ev.clone(),
            "run the pipeline's promote step first",
        ),
        Some(h) if synced_rev == h && deployed.is_some_and(|d| d != h) => Check::fail(
            G,
            "argo.revision",
            format!(
                "Argo CD compares the GitOps head {h} but last applied {}",
                deployed.unwrap_or_default()
            ),
            ev.clone(),
            "the head is not applied yet: see argo.operation and argo.sync (with automated sync off, sync the Application)",
        ),
        Some(h) if synced_rev == h => Check::pass(
            G,
            "argo.revision",
            if deployed.is_some() {
                format!("Argo CD compares and last applied the GitOps head {h}")
            } else {
                format!("Argo CD compares the GitOps head {h}")
            },
            ev.clone(),
        ),
        Some(h) => Check::fail(
            G,
            "argo.revision",
            format!(
                "Argo CD is at revision '{}' but the GitOps head is {h}",
                if synced_rev.is_empty() { "none" } else { synced_rev }
            ),
            ev.clone(),
            "Argo CD has not synced the pushed revision yet: `lane verify --wait 5m` (which asks Argo CD to refresh)",
        ),
    });

    // The last sync operation: still running, or failed, is not a finished release even when
    // the sync status already reads Synced (it compares manifests, not the operation).
    out.push(match op_phase {
        "" | "Succeeded" => Check::pass(
            G,
            "argo.operation",
            if op_phase.is_empty() {
                "no sync operation recorded".to_string()
            } else {
                format!("last sync operation Succeeded: {op_message}")
            },
            ev.clone(),
        ),
        "Running" | "Terminating" => Check::fail(
            G,
            "argo.operation",
            format!("a sync operation is still {op_phase}: {op_message}"),
            ev.clone(),
            "wait for the sync to finish (`--wait`); a sync hook or a slow resource keeps it running",
        ),
        phase => Check::fail(
            G,
            "argo.operation",
            format!("the last sync operation {}: {op_message}", match phase {
                "Failed" | "Error" => format!("ended {phase}"),
                p => format!("is in phase '{p}'"),
            }),
            ev.clone(),
            "the message names what Argo CD could not apply; fix it in the runtime tree or the cluster and sync again",
        ),
    });

    let sync = s(app, "/status/sync/status");
    out.push(if sync == "Synced" {
        Check::pass(G, "argo.sync", "Synced", ev.clone())
    } else {
        Check::fail(
            G,
            "argo.sync",
            format!("sync status is '{}', not Synced", if sync.is_empty() { "unknown" } else { sync }),
            ev.clone(),
            "see the Application's conditions and operationState message; a failed sync names the object it could not apply",
        )
    });

    let health = s(app, "/status/health/status");
    out.push(if health == "Healthy" {
        Check::pass(G, "argo.health", "Healthy", ev)
    } else {
        Check::fail(
            G,
            "argo.health",
            format!("health is '{}', not Healthy", if health.is_empty() { "unknown" } else { health }),
            ev,
            "Argo CD aggregates the health of every object: see `live.*` for which workload is not ready",
        )
    });
    (out, behind)
}

async fn project_check(ctx: &Evidence, client: &Client) -> Result<Check, KubeError> {
    let n = &ctx.lane.names;
    let path = format!(
        "{API}/namespaces/{}/appprojects/{}",
        n.argo_namespace, n.argo_project
    );
    let Some(p) = client.get_json(&path).await? else {
        return Ok(Check::fail(
            G,
            "argo.project-destinations",
            format!(
                "AppProject {}/{} does not exist",
                n.argo_namespace, n.argo_project
            ),
            json!({"path": path}),
            "apply the lane's Argo CD bootstrap (gitops/ from `lane generate`)",
        ));
    };
    let dests: Vec<Value> = p
        .pointer("/spec/destinations")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut problems = Vec::new();
    if dests.is_empty() {
        problems.push("the AppProject allows no destination".into());
    }
    for d in &dests {
        let ns = s(d, "/namespace");
        if ns != n.namespace {
            problems.push(format!(
                "destination namespace '{ns}' (server '{}') is not the lane namespace '{}'",
                s(d, "/server"),
                n.namespace
            ));
        }
    }
    Ok(Check::judge(
        G,
        "argo.project-destinations",
        format!(
            "AppProject {} allows only namespace {}",
            n.argo_project, n.namespace
        ),
        problems,
        json!({"project": n.argo_project, "destinations": dests, "sourceRepos": p.pointer("/spec/sourceRepos")}),
        "the lane's AppProject must allow exactly the lane namespace (no wildcard, no other lane)",
    ))
}

#[cfg(test)]
mod tests {
    use super::normalize_repo_url as n;

    #[test]
    fn repo_urls() {
        assert_eq!(
            n("git@github.com:pikasTech/agentrun.git"),
            "github.com/pikasTech/agentrun"
        );
        assert_eq!(
            n("https://github.com/pikasTech/agentrun"),
            "github.com/pikasTech/agentrun"
        );
        assert_eq!(
            n("ssh://git@GitHub.com/pikasTech/agentrun.git/"),
            "github.com/pikasTech/agentrun"
        );
        assert_ne!(
            n("https://github.com/other/agentrun"),
            n("git@github.com:pikasTech/agentrun.git")
        );
    }
}
