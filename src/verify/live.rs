//! Group 1, the live runtime in the lane namespace: namespace, Deployment rollouts, the digest
//! every running container actually runs, the source-commit labels, the runner template, and
//! service health through the API server's service proxy. A healthy pod of an older image
//! fails (docs/architecture.md, "Artifact identity").

use serde_json::{json, Value};

use super::tree::{self, Obj};
use super::{forbidden_check, forbidden_hint, or_forbidden, Check, Evidence, Group};
use crate::kube::{self, Client, KubeError};
use crate::model::labels;

const G: Group = Group::Live;

pub async fn run(ctx: &Evidence, client: &Client) -> Result<Vec<Check>, KubeError> {
    let ns = &ctx.lane.names.namespace;
    let mut out = Vec::new();
    let nsobj = match client.get_json(&format!("/api/v1/namespaces/{ns}")).await {
        Ok(v) => Some(v),
        // Without `get` on the namespace the rest can still be looked at.
        Err(KubeError::Forbidden {
            access, message, ..
        }) => {
            out.push(forbidden_check(G, "live.namespace", &access, &message));
            None
        }
        Err(e) => return Err(e),
    };
    let mut ns_missing = false;
    match &nsobj {
        None => {}
        Some(None) => {
            ns_missing = true;
            out.push(Check::fail(
                G,
                "live.namespace",
                format!("namespace {ns} does not exist"),
                json!({"namespace": ns}),
                "the lane's Argo CD Application creates it on sync; check `argo.*` below",
            ));
        }
        Some(Some(v)) => {
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
            } else {
                out.push(Check::fail(
                    G,
                    "live.namespace",
                    format!("namespace {ns} is {phase}, not Active"),
                    ev,
                    "a Terminating namespace is being deleted; find out who deleted it",
                ));
            }
        }
    }
    let Some(cat) = ctx.catalog() else {
        out.push(Check::skip(
            G,
            "live.images",
            "no usable catalog on the GitOps branch to compare with",
        ));
        return Ok(out);
    };
    if ns_missing {
        for id in ["live.deployments", "live.images", "live.source-commit"] {
            out.push(Check::skip(G, id, format!("namespace {ns} does not exist")));
        }
        return Ok(out);
    }

    let deployments: Vec<&Obj> = ctx.tree.of_kind("Deployment").collect();
    for d in &deployments {
        let id = format!("live.deployment.{}.rollout", d.name());
        out.push(or_forbidden(G, &id, rollout(client, ns, d).await)?);
    }
    out.push(or_forbidden(
        G,
        "live.images",
        images(ctx, client, ns, cat).await,
    )?);
    out.push(source_commit(ctx, client, ns, cat).await?);
    for cj in ctx.tree.of_kind("CronJob") {
        let id = format!("live.cronjob.{}.image", cj.name());
        out.push(or_forbidden(
            G,
            &id,
            cronjob_image(client, ns, cj, cat).await,
        )?);
    }
    for svc in ctx.lane.intent().enabled_services() {
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

/// What a container status's `imageID` proves about the image it runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageId<'a> {
    /// `[docker-pullable://]repo@sha256:…`: the registry (manifest) digest it was pulled by.
    Registry(&'a str),
    /// `sha256:…` or `docker://sha256:…`: only the node's local image ID (its config digest),
    /// as for an image loaded or built on the node; no registry digest to compare.
    LocalOnly(&'a str),
    /// Empty: the container has not started.
    Missing,
    /// Anything else.
    Unrecognised(&'a str),
}

pub fn parse_image_id(image_id: &str) -> ImageId<'_> {
    let id = image_id.trim();
    if id.is_empty() {
        return ImageId::Missing;
    }
    if let Some((_, d)) = id.rsplit_once('@') {
        return if crate::model::Digest::is_valid(d) {
            ImageId::Registry(d)
        } else {
            ImageId::Unrecognised(id)
        };
    }
    let bare = id.rsplit_once("://").map(|(_, r)| r).unwrap_or(id);
    if crate::model::Digest::is_valid(bare) {
        ImageId::LocalOnly(id)
    } else {
        ImageId::Unrecognised(id)
    }
}

/// Repository of an image reference without tag or digest.
fn repository_of(image: &str) -> String {
    let no_digest = image.split('@').next().unwrap_or(image);
    match no_digest.rsplit_once(':') {
        Some((r, tag)) if !tag.contains('/') => r.to_string(),
        _ => no_digest.to_string(),
    }
}

/// The containers and init containers of the runtime tree's pod template for `service`:
/// name → the image pinned there.
fn desired_containers(ctx: &Evidence, service: &str) -> Option<Vec<(String, String)>> {
    // The Deployment of a long-running service, or the CronJob of a job service (its Jobs'
    // pods carry the same service label).
    let obj = ctx.tree.objects.iter().find(|o| {
        tree::pod_template(&o.value)
            .and_then(|t| t.pointer("/metadata/labels"))
            .and_then(|l| l.get(labels::SERVICE))
            .and_then(Value::as_str)
            == Some(service)
    })?;
    let spec = tree::pod_template(&obj.value)?.get("spec")?;
    let mut out = Vec::new();
    for key in ["initContainers", "containers"] {
        for c in spec
            .get(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let (Some(n), Some(i)) = (
                c.get("name").and_then(Value::as_str),
                c.get("image").and_then(Value::as_str),
            ) {
                out.push((n.to_string(), i.to_string()));
            }
        }
    }
    Some(out)
}

async fn images(
    ctx: &Evidence,
    client: &Client,
    ns: &str,
    cat: &crate::model::Catalog,
) -> Result<Check, KubeError> {
    let mut problems = Vec::new();
    let mut evidence = serde_json::Map::new();
    for svc in ctx.lane.intent().enabled_services() {
        let Some(entry) = cat.services.get(svc.id.as_str()) else {
            continue;
        };
        let desired = desired_containers(ctx, &svc.id);
        // The digest each container must run: the one the tree pins for it when that is
        // another repository's (a sidecar), else the catalog's. Every container is judged by
        // digest whatever repository its reference names (a mirror or a rewritten reference
        // runs the same bytes only if the digest matches).
        let expected = |cname: &str| -> Option<String> {
            match &desired {
                None => Some(entry.digest.to_string()),
                Some(d) => d.iter().find(|(n, _)| n == cname).map(|(_, img)| {
                    match tree::split_pinned(img) {
                        Some((repo, dig)) if repo != entry.image_repository => dig.to_string(),
                        _ => entry.digest.to_string(),
                    }
                }),
            }
        };
        let selector = format!("{}={}", labels::SERVICE, svc.id);
        let mut pods = Vec::new();
        client
            .list(
                &format!("/api/v1/namespaces/{ns}/pods"),
                Some(&selector),
                |p| pods.push(p),
            )
            .await?;
        let mut pods_ev = Vec::new();
        let mut running_pods = 0;
        for pod in &pods {
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
            let mut ctrs = Vec::new();
            for (init, spec_key, status_key) in [
                (
                    true,
                    "/spec/initContainers",
                    "/status/initContainerStatuses",
                ),
                (false, "/spec/containers", "/status/containerStatuses"),
            ] {
                let specs = pod.pointer(spec_key).and_then(Value::as_array);
                for cs in pod
                    .pointer(status_key)
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    let cname = cs.get("name").and_then(Value::as_str).unwrap_or("?");
                    let status_image = cs.get("image").and_then(Value::as_str).unwrap_or("");
                    let image_id = cs.get("imageID").and_then(Value::as_str).unwrap_or("");
                    let state = cs
                        .get("state")
                        .and_then(Value::as_object)
                        .and_then(|m| m.keys().next().cloned())
                        .unwrap_or_default();
                    let spec_image = specs
                        .into_iter()
                        .flatten()
                        .find(|c| c.get("name").and_then(Value::as_str) == Some(cname))
                        .and_then(|c| c.get("image").and_then(Value::as_str))
                        .unwrap_or(status_image);
                    // Longer than any valid reference: only a hostile answer is cut.
                    let spec_image = &super::clip(spec_image, 600);
                    let want = expected(cname);
                    let parsed = parse_image_id(image_id);
                    let judged = want.is_some() && parsed != ImageId::Missing;
                    ctrs.push(json!({
                        "container": cname, "init": init, "image": spec_image, "imageID": super::clip(image_id, 600),
                        "state": state, "ready": cs.get("ready").and_then(Value::as_bool).unwrap_or(false),
                        "expectedDigest": want, "judged": judged,
                    }));
                    let what = format!(
                        "{}: pod {name} {}container {cname}",
                        svc.id,
                        if init { "init " } else { "" }
                    );
                    let Some(want) = want else {
                        problems.push(format!(
                            "{what} is not in the runtime tree's pod template (added by an admission webhook?), so nothing says which image it may run"
                        ));
                        continue;
                    };
                    let other_repo = repository_of(spec_image) != entry.image_repository;
                    let says = if want == entry.digest {
                        "the catalog says"
                    } else {
                        "the runtime tree pins"
                    };
                    match parsed {
                        ImageId::Registry(d) if d == want => {}
                        ImageId::Registry(d) => problems.push(format!(
                            "{what} runs {d}, {says} {want}{}{}",
                            if other_repo {
                                format!(" (its image {spec_image} names another repository than the catalog's {})", entry.image_repository)
                            } else {
                                String::new()
                            },
                            if terminating { " (terminating)" } else { "" }
                        )),
                        ImageId::LocalOnly(id) => problems.push(format!(
                            "{what} reports imageID '{id}' without a registry digest: the node runs an image loaded or built locally, so the digest {want} cannot be proved"
                        )),
                        ImageId::Unrecognised(id) => problems.push(format!(
                            "{what} reports imageID '{}', which names no digest",
                            super::clip(id, 600)
                        )),
                        ImageId::Missing if state == "running" || state == "terminated" => {
                            problems.push(format!("{what} is {state} but reports no imageID"))
                        }
                        ImageId::Missing => {}
                    }
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
            svc.id.to_string(),
            json!({"catalogDigest": entry.digest, "selector": selector, "pods": pods_ev}),
        );
    }
    let local_only = problems
        .iter()
        .any(|p| p.contains("without a registry digest"));
    Ok(Check::judge(
        G,
        "live.images",
        "every container and init container of the lane's running pods runs the catalog's digest",
        problems,
        Value::Object(evidence),
        if local_only {
            "pull the image from the registry by its digest (the rendered reference is repo@sha256:…); a locally loaded image has no registry digest to compare"
        } else {
            "an older image is still running: wait for the rollout (`--wait`), or find why the new pods are not replacing it (a healthy old version is not a release)"
        },
    ))
}

async fn source_commit(
    ctx: &Evidence,
    client: &Client,
    ns: &str,
    cat: &crate::model::Catalog,
) -> Result<Check, KubeError> {
    let mut problems = Vec::new();
    let mut ev = Vec::new();
    let mut refused: Vec<kube::Access> = Vec::new();
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
        let live = match client.get_json(&path).await {
            Ok(v) => v,
            Err(KubeError::Forbidden { access, .. }) => {
                problems.push(format!(
                    "{what}: forbidden: the verifying identity may not {}",
                    access.describe()
                ));
                ev.push(json!({"object": what, "want": want, "forbidden": access}));
                refused.push(*access);
                continue;
            }
            Err(e) => return Err(e),
        };
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
    let hint = if refused.is_empty() {
        "the cluster does not run the promoted desired state: check argo.revision and argo.sync"
            .to_string()
    } else {
        forbidden_hint(&refused)
    };
    Ok(Check::judge(
        G,
        "live.source-commit",
        format!("{} object(s) carry the catalog's source commit", ev.len()),
        problems,
        json!({"objects": ev, "forbidden": refused}),
        hint,
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
    let ok = images.iter().any(|i| *i == want);
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
    ctx: &Evidence,
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
        Err(KubeError::Forbidden {
            access, message, ..
        }) => return Ok(forbidden_check(G, id, &access, &message)),
        Err(e) => return Err(e),
    };
    let body: String = crate::redact::scrub(&String::from_utf8_lossy(&ans.body), &[])
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_ids() {
        let d = format!("sha256:{}", "a".repeat(64));
        assert_eq!(
            parse_image_id(&format!("127.0.0.1:5000/agentrun/x@{d}")),
            ImageId::Registry(&d)
        );
        assert_eq!(
            parse_image_id(&format!("docker-pullable://r/x@{d}")),
            ImageId::Registry(&d)
        );
        // containerd for an imported image, and Docker: the local image ID alone.
        assert_eq!(parse_image_id(&d), ImageId::LocalOnly(&d));
        let docker = format!("docker://{d}");
        assert_eq!(parse_image_id(&docker), ImageId::LocalOnly(&docker));
        assert_eq!(parse_image_id(""), ImageId::Missing);
        assert_eq!(
            parse_image_id("r/x:latest"),
            ImageId::Unrecognised("r/x:latest")
        );
        assert_eq!(
            parse_image_id("r/x@sha256:short"),
            ImageId::Unrecognised("r/x@sha256:short")
        );
        assert_eq!(repository_of("r:5000/a/x:tag"), "r:5000/a/x");
        assert_eq!(repository_of(&format!("r:5000/a/x@{d}")), "r:5000/a/x");
    }
}
