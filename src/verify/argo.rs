//! Group 2, Argo CD desired state, read through the Kubernetes API (the Application and
//! AppProject custom resources): source is the GitOps branch and runtime path, destination
//! the lane namespace, synced to the GitOps head and healthy; the project allows only the
//! lane namespace.

use serde_json::{json, Value};

use super::{Check, Ctx, Group};
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

pub async fn run(ctx: &Ctx, client: &Client) -> Result<Vec<Check>, KubeError> {
    let n = &ctx.lane.names;
    let mut out = Vec::new();
    let app_path = format!(
        "{API}/namespaces/{}/applications/{}",
        n.argo_namespace, n.argo_application
    );
    let app = client.get_json(&app_path).await?;
    match &app {
        None => {
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
            for id in [
                "argo.source",
                "argo.destination",
                "argo.revision",
                "argo.sync",
                "argo.health",
            ] {
                out.push(Check::skip(G, id, "no Application"));
            }
        }
        Some(app) => {
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
            out.extend(app_checks(ctx, app));
        }
    }
    out.push(project_check(ctx, client).await?);
    Ok(out)
}

fn app_checks(ctx: &Ctx, app: &Value) -> Vec<Check> {
    let n = &ctx.lane.names;
    let mut out = Vec::new();
    // A single-source Application has spec.source; a multi-source one spec.sources.
    let src = app
        .pointer("/spec/source")
        .or_else(|| app.pointer("/spec/sources/0"))
        .cloned()
        .unwrap_or(Value::Null);
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
    if app
        .pointer("/spec/sources")
        .and_then(Value::as_array)
        .is_some_and(|a| a.len() > 1)
    {
        problems.push(
            "the Application has more than one source; the lane's desired state is one path".into(),
        );
    }
    out.push(Check::judge(
        G,
        "argo.source",
        format!("{}:{} of {}", n.gitops_branch, n.runtime_path, n.gitops_repo),
        problems,
        json!({"repoURL": repo, "targetRevision": rev, "path": path,
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
    let synced_rev = s(app, "/status/sync/revision");
    let op = app.pointer("/status/operationState");
    let state = json!({
        "syncStatus": s(app, "/status/sync/status"),
        "syncRevision": synced_rev,
        "health": s(app, "/status/health/status"),
        "healthMessage": app.pointer("/status/health/message"),
        "operationPhase": op.map(|o| s(o, "/phase")),
        "operationMessage": op.map(|o| s(o, "/message")),
        "operationRevision": op.map(|o| s(o, "/syncResult/revision")),
        "reconciledAt": app.pointer("/status/reconciledAt"),
        "conditions": app.pointer("/status/conditions"),
    });
    let mut ev = state.clone();
    ev["gitopsHead"] = json!(head);
    out.push(match head {
        None => Check::fail(
            G,
            "argo.revision",
            format!("the GitOps branch {} does not exist, so no revision can be compared", n.gitops_branch),
            ev.clone(),
            "run the pipeline's promote step first",
        ),
        Some(h) if synced_rev == h => Check::pass(G, "argo.revision", format!("synced revision is the GitOps head {h}"), ev.clone()),
        Some(h) => Check::fail(
            G,
            "argo.revision",
            format!(
                "Argo CD is at revision '{}' but the GitOps head is {h}",
                if synced_rev.is_empty() { "none" } else { synced_rev }
            ),
            ev.clone(),
            "Argo CD has not synced the pushed revision yet: `lane verify --wait 5m`, or refresh the Application",
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
    out
}

async fn project_check(ctx: &Ctx, client: &Client) -> Result<Check, KubeError> {
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
