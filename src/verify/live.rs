//! Group 1, the live runtime in the lane namespace: namespace, Deployment rollouts, the digest
//! every running container actually runs, the source-commit labels, the runner template, and
//! service health through the API server's service proxy. A healthy pod of an older image
//! fails (SPEC §4).

use serde_json::{json, Value};

use super::tree::{self, Obj};
use super::{Check, Ctx, Group};
use crate::kube::{self, encode_query, Client, KubeError};
use crate::model::labels;
use crate::model::secrets;

const G: Group = Group::Live;

pub async fn run(ctx: &Ctx, client: &Client) -> Result<Vec<Check>, KubeError> {
    let ns = &ctx.lane.names.namespace;
    let mut out = Vec::new();
    let nsobj = client.get_json(&format!("/api/v1/namespaces/{ns}")).await?;
    let ns_ok = match &nsobj {
        None => {
            out.push(Check::fail(
                G,
                "live.namespace",
                format!("namespace {ns} does not exist"),
                json!({"namespace": ns}),
                "the lane's Argo CD Application creates it on sync; check `argo.*` below",
            ));
            false
        }
        Some(v) => {
            let phase = v
                .pointer("/status/phase")
                .and_then(Value::as_str)
                .unwrap_or("");
            let ev = json!({"namespace": ns, "phase": phase});
            if phase == "Active" {
                out.push(Check::pass(
                    G,
                    "live.namespace",
                    format!("namespace {ns} is Active"),
                    ev,
                ));
                true
            } else {
                out.push(Check::fail(
                    G,
                    "live.namespace",
                    format!("namespace {ns} is {phase}, not Active"),
                    ev,
                    "a Terminating namespace is being deleted; find out who deleted it",
                ));
                false
            }
        }
    };
    let Some(cat) = ctx.catalog() else {
        out.push(Check::skip(
            G,
            "live.images",
            "no usable catalog on the GitOps branch to compare with",
        ));
        return Ok(out);
    };
    if !ns_ok && nsobj.is_none() {
        for id in ["live.deployments", "live.images", "live.source-commit"] {
            out.push(Check::skip(G, id, format!("namespace {ns} does not exist")));
        }
        return Ok(out);
    }

    let deployments: Vec<&Obj> = ctx.tree.of_kind("Deployment").collect();
    for d in &deployments {
        out.push(rollout(client, ns, d).await?);
    }
    out.push(images(ctx, client, ns, cat).await?);
    out.push(source_commit(ctx, client, ns, cat).await?);
    for cj in ctx.tree.of_kind("CronJob") {
        out.push(cronjob_image(client, ns, cj, cat).await?);
    }
    for svc in ctx.lane.intent.enabled_services() {
        if let Some(h) = &svc.health {
            out.push(health(ctx, client, ns, &svc.id, &h.path, &h.port).await?);
        }
    }
    Ok(out)
}

fn int(v: &Value, ptr: &str) -> Option<i64> {
    v.pointer(ptr).and_then(Value::as_i64)
}

async fn rollout(client: &Client, ns: &str, d: &Obj) -> Result<Check, KubeError> {
    let name = d.name();
    let id = format!("live.deployment.{name}.rollout");
    let path = kube::object_path("apps/v1", "Deployment", Some(ns), name);
    let Some(live) = client.get_json(&path).await? else {
        return Ok(Check::fail(
            G,
            id,
            format!("Deployment {ns}/{name} does not exist"),
            json!({"deployment": name}),
            "Argo CD has not applied the runtime tree: check argo.sync",
        ));
    };
    let want = int(&live, "/spec/replicas").unwrap_or(1);
    let generation = int(&live, "/metadata/generation").unwrap_or(0);
    let observed = int(&live, "/status/observedGeneration").unwrap_or(0);
    let updated = int(&live, "/status/updatedReplicas").unwrap_or(0);
    let available = int(&live, "/status/availableReplicas").unwrap_or(0);
    let ready = int(&live, "/status/readyReplicas").unwrap_or(0);
    let total = int(&live, "/status/replicas").unwrap_or(0);
    let progressing = live
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .and_then(|cs| {
            cs.iter()
                .find(|c| c.get("type").and_then(Value::as_str) == Some("Progressing"))
        })
        .cloned();
    let mut problems = Vec::new();
    if observed < generation {
        problems.push(format!("observedGeneration {observed} < generation {generation}: the controller has not seen the newest spec"));
    }
    if updated != want {
        problems.push(format!("updatedReplicas {updated} != replicas {want}"));
    }
    if available != want {
        problems.push(format!("availableReplicas {available} != replicas {want}"));
    }
    if ready != want {
        problems.push(format!("readyReplicas {ready} != replicas {want}"));
    }
    if total > want {
        problems.push(format!(
            "{total} pods exist for {want} replicas: old pods are still running"
        ));
    }
    if let Some(p) = &progressing {
        if p.get("reason").and_then(Value::as_str) == Some("ProgressDeadlineExceeded") {
            problems.push(format!(
                "rollout stuck: {}",
                p.get("message")
                    .and_then(Value::as_str)
                    .unwrap_or("ProgressDeadlineExceeded")
            ));
        }
    }
    Ok(Check::judge(
        G,
        id,
        format!("{want}/{want} replicas updated, available and ready at generation {generation}"),
        problems,
        json!({
            "deployment": name,
            "generation": generation,
            "observedGeneration": observed,
            "replicas": want,
            "statusReplicas": total,
            "updatedReplicas": updated,
            "availableReplicas": available,
            "readyReplicas": ready,
            "progressing": progressing,
        }),
        "see `kubectl -n NS describe deployment` and the pod events: image pull, readiness probe or quota",
    ))
}

/// The digest part of an `imageID` (`docker-pullable://repo@sha256:…`, `repo@sha256:…`).
pub fn image_id_digest(image_id: &str) -> Option<&str> {
    let d = image_id
        .rsplit_once('@')
        .map(|(_, d)| d)
        .unwrap_or(image_id);
    crate::model::rules::is_digest(d).then_some(d)
}

async fn images(
    ctx: &Ctx,
    client: &Client,
    ns: &str,
    cat: &crate::model::Catalog,
) -> Result<Check, KubeError> {
    let mut problems = Vec::new();
    let mut evidence = serde_json::Map::new();
    for svc in ctx.lane.intent.enabled_services() {
        let Some(entry) = cat.services.get(&svc.id) else {
            continue;
        };
        let selector = format!("{}={}", labels::SERVICE, svc.id);
        let path = format!(
            "/api/v1/namespaces/{ns}/pods?labelSelector={}",
            encode_query(&selector)
        );
        let list = client.get_json(&path).await?.unwrap_or(Value::Null);
        let mut pods_ev = Vec::new();
        let mut running_pods = 0;
        for pod in list
            .get("items")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let name = pod
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or("?");
            let phase = pod
                .pointer("/status/phase")
                .and_then(Value::as_str)
                .unwrap_or("");
            let terminating = pod.pointer("/metadata/deletionTimestamp").is_some();
            if phase != "Running" {
                pods_ev.push(json!({"pod": name, "phase": phase}));
                continue;
            }
            running_pods += 1;
            let specs: Vec<(String, String)> = pod
                .pointer("/spec/containers")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .map(|c| {
                    (
                        c.get("name")
                            .and_then(Value::as_str)
                            .unwrap_or("")
                            .to_string(),
                        c.get("image")
                            .and_then(Value::as_str)
                            .unwrap_or("")
                            .to_string(),
                    )
                })
                .collect();
            let mut ctrs = Vec::new();
            for cs in pod
                .pointer("/status/containerStatuses")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let cname = cs.get("name").and_then(Value::as_str).unwrap_or("?");
                let image = cs.get("image").and_then(Value::as_str).unwrap_or("");
                let image_id = cs.get("imageID").and_then(Value::as_str).unwrap_or("");
                let running = cs.pointer("/state/running").is_some();
                let spec_image = specs
                    .iter()
                    .find(|(n, _)| n == cname)
                    .map(|(_, i)| i.as_str())
                    .unwrap_or(image);
                // Only the service's own image is judged; a sidecar of another repository is
                // listed but not compared.
                let repo_of = |s: &str| {
                    tree::split_pinned(s)
                        .map(|(r, _)| r.to_string())
                        .unwrap_or_else(|| {
                            s.rsplit_once(':')
                                .filter(|(_, t)| !t.contains('/'))
                                .map(|(r, _)| r.to_string())
                                .unwrap_or_else(|| s.to_string())
                        })
                };
                let ours = repo_of(spec_image) == entry.image_repository
                    || repo_of(image) == entry.image_repository;
                let got = image_id_digest(image_id);
                ctrs.push(json!({
                    "container": cname, "image": spec_image, "imageID": image_id,
                    "running": running, "ready": cs.get("ready").and_then(Value::as_bool).unwrap_or(false),
                    "judged": ours && running,
                }));
                if !ours || !running {
                    continue;
                }
                match got {
                    Some(d) if d == entry.digest => {}
                    Some(d) => problems.push(format!(
                        "{}: pod {name} container {cname} runs {d}, the catalog says {}{}",
                        svc.id,
                        entry.digest,
                        if terminating { " (terminating)" } else { "" }
                    )),
                    None => problems.push(format!(
                        "{}: pod {name} container {cname} reports no digest in imageID '{image_id}'",
                        svc.id
                    )),
                }
            }
            pods_ev.push(json!({"pod": name, "phase": phase, "terminating": terminating, "containers": ctrs}));
        }
        let needs_pods = svc.kind == crate::model::intent::ComponentKind::Deployment
            && svc.replicas.unwrap_or(1) > 0;
        if needs_pods && running_pods == 0 {
            problems.push(format!("{}: no running pod (selector {selector})", svc.id));
        }
        evidence.insert(
            svc.id.clone(),
            json!({"catalogDigest": entry.digest, "selector": selector, "pods": pods_ev}),
        );
    }
    Ok(Check::judge(
        G,
        "live.images",
        "every running container of the lane runs the catalog's digest",
        problems,
        Value::Object(evidence),
        "an older image is still running: wait for the rollout (`--wait`), or find why the new pods are not replacing it (a healthy old version is not a release)",
    ))
}

async fn source_commit(
    ctx: &Ctx,
    client: &Client,
    ns: &str,
    cat: &crate::model::Catalog,
) -> Result<Check, KubeError> {
    let mut problems = Vec::new();
    let mut ev = Vec::new();
    for o in &ctx.tree.objects {
        let Some(want_tree) = o.label(labels::SOURCE_COMMIT) else {
            continue;
        };
        let what = format!("{}/{}", o.kind(), o.name());
        // The tree's label is what render took from the catalog; check both links.
        let want = o
            .service()
            .and_then(|s| cat.services.get(s))
            .map(|e| e.source_commit.as_str())
            .unwrap_or(want_tree);
        if want_tree != want {
            problems.push(format!(
                "{what}: the GitOps tree says {want_tree}, the catalog {want}"
            ));
        }
        let ns_opt = o
            .value
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or(ns);
        let path = kube::object_path(o.api_version(), o.kind(), Some(ns_opt), o.name());
        let live = client.get_json(&path).await?;
        let got = live
            .as_ref()
            .and_then(|v| v.pointer("/metadata/labels"))
            .and_then(|l| l.get(labels::SOURCE_COMMIT))
            .and_then(Value::as_str)
            .map(str::to_string);
        match (&live, &got) {
            (None, _) => problems.push(format!("{what} does not exist in the cluster")),
            (Some(_), Some(g)) if g == want => {}
            (Some(_), g) => problems.push(format!(
                "{what}: live {} is {}, the catalog says {want}",
                labels::SOURCE_COMMIT,
                g.as_deref().unwrap_or("absent")
            )),
        }
        ev.push(json!({"object": what, "want": want, "live": got}));
    }
    if ev.is_empty() {
        problems.push(format!(
            "no object of the runtime tree carries {}",
            labels::SOURCE_COMMIT
        ));
    }
    Ok(Check::judge(
        G,
        "live.source-commit",
        format!("{} object(s) carry the catalog's source commit", ev.len()),
        problems,
        json!({"objects": ev}),
        "the cluster does not run the promoted desired state: check argo.revision and argo.sync",
    ))
}

async fn cronjob_image(
    client: &Client,
    ns: &str,
    cj: &Obj,
    cat: &crate::model::Catalog,
) -> Result<Check, KubeError> {
    let name = cj.name();
    let id = format!("live.cronjob.{name}.image");
    let service = cj.service().unwrap_or(name);
    let Some(entry) = cat.services.get(service) else {
        return Ok(Check::skip(
            G,
            id,
            format!("service {service} has no catalog entry"),
        ));
    };
    let want = entry.pinned_image();
    let path = kube::object_path("batch/v1", "CronJob", Some(ns), name);
    let Some(live) = client.get_json(&path).await? else {
        return Ok(Check::fail(
            G,
            id,
            format!("CronJob {ns}/{name} (the runner template) does not exist"),
            json!({"cronjob": name, "want": want}),
            "Argo CD has not applied the runtime tree: check argo.sync",
        ));
    };
    let images: Vec<String> = live
        .pointer("/spec/jobTemplate/spec/template/spec/containers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|c| c.get("image").and_then(Value::as_str).map(str::to_string))
        .collect();
    let ok = images.contains(&want);
    let ev = json!({"cronjob": name, "want": want, "images": images,
        "suspend": live.pointer("/spec/suspend")});
    Ok(if ok {
        Check::pass(G, id, format!("runner template pins {want}"), ev)
    } else {
        Check::fail(
            G,
            id,
            format!("runner template {name} does not run {want}"),
            ev,
            "new runner Jobs would start the wrong image: check argo.sync and gitops.drift",
        )
    })
}

async fn health(
    ctx: &Ctx,
    client: &Client,
    ns: &str,
    service: &str,
    hpath: &str,
    port: &str,
) -> Result<Check, KubeError> {
    let id = format!("live.health.{service}");
    // The Service of the runtime tree named after the service, and its port of that name.
    let Some(svc) = ctx.tree.find("Service", service) else {
        return Ok(Check::fail(
            G,
            id,
            format!("the runtime tree has no Service {service} for the health check"),
            json!({"service": service}),
            "a service with a health path needs a port; check deploy.json ports and re-render",
        ));
    };
    let has_port = svc
        .value
        .pointer("/spec/ports")
        .and_then(Value::as_array)
        .is_some_and(|ps| {
            ps.iter()
                .any(|p| p.get("name").and_then(Value::as_str) == Some(port))
        });
    let path = format!(
        "/api/v1/namespaces/{ns}/services/{}:{port}/proxy{}",
        svc.name(),
        if hpath.starts_with('/') {
            hpath.to_string()
        } else {
            format!("/{hpath}")
        }
    );
    let ans = match client.get_raw(&path).await {
        Ok(a) => a,
        // The proxy answers 403 when RBAC lacks services/proxy: that is a failed check with a
        // hint, not a broken environment.
        Err(KubeError::Unauthorized {
            status: 403,
            reason,
            ..
        }) => {
            return Ok(Check::fail(
                G,
                id,
                format!("the API server refused the service proxy: {reason}"),
                json!({"path": path}),
                "grant `get` on services/proxy in the lane namespace to the verifying identity",
            ))
        }
        Err(e) => return Err(e),
    };
    let body: String = secrets::scrub(&String::from_utf8_lossy(&ans.body), &[])
        .chars()
        .take(300)
        .collect();
    let ev = json!({"path": path, "servicePort": port, "status": ans.status, "body": body, "portInService": has_port});
    Ok(if (200..300).contains(&ans.status) && has_port {
        Check::pass(
            G,
            id,
            format!("{service} answers HTTP {} on {hpath}", ans.status),
            ev,
        )
    } else if !has_port {
        Check::fail(
            G,
            id,
            format!("Service {service} has no port named '{port}'"),
            ev,
            "the health port must be one of the service's named ports",
        )
    } else {
        Check::fail(
            G,
            id,
            format!("{service} answers HTTP {} on {hpath}", ans.status),
            ev,
            "503 means no ready endpoint behind the Service; otherwise read the pod logs",
        )
    })
}
