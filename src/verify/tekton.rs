//! Group 4, Tekton evidence: the PipelineRun of the source commit succeeded, and the image
//! digests it published (PipelineRun results, else its TaskRuns' results, in the forms Tekton
//! Chains reads: `IMAGES`, `*IMAGE_URL` + `*IMAGE_DIGEST`, `*_ARTIFACT_OUTPUTS`) equal the
//! catalog's.

use serde_json::{json, Value};

use super::tree::split_pinned;
use super::{forbidden_check, Check, Evidence, Group};
use crate::kube::{Client, KubeError};
use crate::model::{Digest, EntryStatus};

const G: Group = Group::Tekton;
const API: &str = "/apis/tekton.dev/v1";

fn s<'a>(v: &'a Value, ptr: &str) -> &'a str {
    v.pointer(ptr).and_then(Value::as_str).unwrap_or("")
}

/// One published image found in results.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResultImage {
    pub repository: String,
    pub digest: Digest,
    /// `<run>/<result name>`.
    pub from: String,
}

/// Repository of an image reference without tag or digest.
fn repository_of(image: &str) -> String {
    let no_digest = image.split('@').next().unwrap_or(image);
    match no_digest.rsplit_once(':') {
        Some((r, tag)) if !tag.contains('/') => r.to_string(),
        _ => no_digest.to_string(),
    }
}

/// Images named by a `results` array (`[{name, value}]`, value string/array/object).
pub fn images_from_results(results: &[Value], from: &str) -> Vec<ResultImage> {
    let mut out = Vec::new();
    let get = |name: &str| {
        results
            .iter()
            .find(|r| r.get("name").and_then(Value::as_str).map(str::trim) == Some(name))
            .and_then(|r| r.get("value"))
    };
    // Tekton Chains trims the whitespace around every result value it reads (a step's
    // `echo` leaves a newline): so does lane, or a digest Chains signs would not match here.
    let text = |v: Option<&Value>| v.and_then(Value::as_str).map(|s| s.trim().to_string());
    for r in results {
        let name = r.get("name").and_then(Value::as_str).unwrap_or("").trim();
        let value = match r.get("value") {
            Some(Value::String(s)) => Value::String(s.trim().to_string()),
            Some(v) => v.clone(),
            None => Value::Null,
        };
        let tag = format!("{from}/{name}");
        if name == "IMAGES" || name.ends_with("_IMAGES") {
            let text = match &value {
                Value::String(s) => s.clone(),
                Value::Array(a) => a
                    .iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(","),
                _ => String::new(),
            };
            for item in text
                .split([',', '\n', ' '])
                .map(str::trim)
                .filter(|s| !s.is_empty())
            {
                if let Some((repo, digest)) = split_pinned(item) {
                    out.push(ResultImage {
                        repository: repository_of(repo),
                        digest,
                        from: tag.clone(),
                    });
                }
            }
        } else if let Some(prefix) = name.strip_suffix("IMAGE_URL") {
            let url = value.as_str().unwrap_or("");
            let digest = text(get(&format!("{prefix}IMAGE_DIGEST")))
                .or_else(|| split_pinned(url).map(|(_, d)| d.to_string()));
            if let Some(d) = digest.and_then(|d| Digest::try_from(d).ok()) {
                out.push(ResultImage {
                    repository: repository_of(url),
                    digest: d,
                    from: tag.clone(),
                });
            }
        } else if name.ends_with("ARTIFACT_OUTPUTS") {
            let parsed = match &value {
                Value::String(s) => serde_json::from_str(s).unwrap_or(Value::Null),
                v => v.clone(),
            };
            let items = match parsed {
                Value::Array(a) => a,
                v => vec![v],
            };
            for it in items {
                let uri = s(&it, "/uri").trim();
                let digest = s(&it, "/digest").trim();
                let digest = Digest::try_from(digest).ok();
                if let Some(digest) = digest.filter(|_| !uri.is_empty()) {
                    out.push(ResultImage {
                        repository: repository_of(uri),
                        digest,
                        from: tag.clone(),
                    });
                }
            }
        }
    }
    out
}

pub async fn run(
    ctx: &Evidence,
    client: &Client,
    explicit: Option<&str>,
) -> Result<Vec<Check>, KubeError> {
    match judge(ctx, client, explicit).await {
        Err(KubeError::Forbidden {
            access, message, ..
        }) => Ok(vec![
            forbidden_check(G, "tekton.pipelinerun", &access, &message),
            Check::skip(G, "tekton.digests", "no PipelineRun could be read"),
        ]),
        r => r,
    }
}

/// The lane Pipeline's runs whose name starts with `prefix`, newest first; `None` when the
/// API server does not serve tekton.dev/v1 PipelineRuns (also `lane status`).
pub async fn list_runs(
    client: &Client,
    n: &crate::model::LaneNames,
    prefix: &str,
) -> Result<Option<Vec<Value>>, KubeError> {
    // Only this pipeline's runs (the label Tekton's controller sets), read in pages: a
    // namespace keeps thousands of runs, more than one bounded answer holds.
    let selector = format!("tekton.dev/pipeline={}", n.pipeline);
    let mut runs: Vec<Value> = Vec::new();
    let listed = client
        .list(
            &format!("{API}/namespaces/{}/pipelineruns", n.tekton_namespace),
            Some(&selector),
            |p| {
                if s(&p, "/metadata/name").starts_with(prefix) {
                    runs.push(p);
                }
            },
        )
        .await?;
    if listed.is_none() {
        return Ok(None);
    }
    // Newest first (RFC 3339 UTC timestamps sort as strings), then by name.
    runs.sort_by(|a, b| {
        (s(b, "/metadata/creationTimestamp"), s(b, "/metadata/name"))
            .cmp(&(s(a, "/metadata/creationTimestamp"), s(a, "/metadata/name")))
    });
    Ok(Some(runs))
}

async fn judge(
    ctx: &Evidence,
    client: &Client,
    explicit: Option<&str>,
) -> Result<Vec<Check>, KubeError> {
    let n = &ctx.lane.names;
    let ns = &n.tekton_namespace;
    let prefix = n.pipeline_run_name(&ctx.commit);
    let (pr, candidates) = match explicit {
        Some(name) => {
            let pr = client
                .get_json(&format!("{API}/namespaces/{ns}/pipelineruns/{name}"))
                .await?;
            (pr, vec![name.to_string()])
        }
        None => {
            let Some(runs) = list_runs(client, n, &prefix).await? else {
                return Ok(vec![
                    Check::fail(
                        G,
                        "tekton.pipelinerun",
                        format!("the API server does not serve tekton.dev/v1 PipelineRuns in {ns}"),
                        json!({"namespace": ns, "prefix": prefix}),
                        "install Tekton Pipelines (its tekton.dev/v1 API) in the cluster the lane's Pipeline runs in, or skip the group with `--skip tekton`",
                    ),
                    Check::skip(G, "tekton.digests", "no PipelineRun"),
                ]);
            };
            let names = runs
                .iter()
                .map(|p| s(p, "/metadata/name").to_string())
                .collect();
            (runs.into_iter().next(), names)
        }
    };
    let Some(pr) = pr else {
        return Ok(vec![
            Check::fail(
                G,
                "tekton.pipelinerun",
                match explicit {
                    Some(name) => format!("PipelineRun {ns}/{name} does not exist"),
                    None => format!("no PipelineRun in {ns} named {prefix}* for commit {}", ctx.commit),
                },
                json!({"namespace": ns, "prefix": prefix, "explicit": explicit}),
                "run the pipeline for the commit (Triggers on push, or a PipelineRun by hand); its name must start with the lane's prefix",
            ),
            Check::skip(G, "tekton.digests", "no PipelineRun"),
        ]);
    };
    let name = s(&pr, "/metadata/name").to_string();
    let cond = crate::kube::condition(&pr, "Succeeded").clone();
    let status = s(&cond, "/status");
    let ev = json!({
        "pipelineRun": name,
        "namespace": ns,
        "candidates": candidates,
        "pipeline": pr.pointer("/spec/pipelineRef/name"),
        "commitParam": pr.pointer("/spec/params").and_then(Value::as_array)
            .and_then(|ps| ps.iter().find(|p| matches!(s(p, "/name"), "revision" | "commit" | "source-commit")))
            .and_then(|p| p.get("value")),
        "succeeded": status,
        "reason": s(&cond, "/reason"),
        "message": s(&cond, "/message"),
        "startTime": pr.pointer("/status/startTime"),
        "completionTime": pr.pointer("/status/completionTime"),
    });
    let mut out = vec![match status {
        "True" => Check::pass(
            G,
            "tekton.pipelinerun",
            format!("{name} succeeded ({})", s(&cond, "/reason")),
            ev,
        ),
        "Unknown" | "" => Check::fail(
            G,
            "tekton.pipelinerun",
            format!(
                "{name} has not finished ({})",
                if status.is_empty() {
                    "no Succeeded condition"
                } else {
                    s(&cond, "/reason")
                }
            ),
            ev,
            "wait for the PipelineRun to finish (`tkn pr logs -f`)",
        ),
        _ => Check::fail(
            G,
            "tekton.pipelinerun",
            format!(
                "{name} failed: {} {}",
                s(&cond, "/reason"),
                s(&cond, "/message")
            ),
            ev,
            "read the failed TaskRun's logs; a failed run is never release evidence",
        ),
    }];

    let mut found = images_from_results(
        pr.pointer("/status/results")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or(&[]),
        &name,
    );
    let mut looked = vec![format!("PipelineRun {name}")];
    let mut pruned = Vec::new();
    let mut refused = Vec::new();
    if found.is_empty() {
        for child in pr
            .pointer("/status/childReferences")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if s(child, "/kind") != "TaskRun" {
                continue;
            }
            let tr_name = s(child, "/name");
            looked.push(format!("TaskRun {tr_name}"));
            match client
                .get_json(&format!("{API}/namespaces/{ns}/taskruns/{tr_name}"))
                .await
            {
                Ok(Some(tr)) => found.extend(images_from_results(
                    tr.pointer("/status/results")
                        .and_then(Value::as_array)
                        .map(Vec::as_slice)
                        .unwrap_or(&[]),
                    tr_name,
                )),
                // The PipelineRun names it, so it existed: a pruner (Tekton's keep/TTL
                // settings) deleted it, and its results with it.
                Ok(None) => pruned.push(tr_name.to_string()),
                Err(KubeError::Forbidden { access, .. }) => refused.push(*access),
                Err(e) => return Err(e),
            }
        }
    }
    out.push(digests_check(ctx, &found, &looked, &pruned, &refused));
    Ok(out)
}

fn digests_check(
    ctx: &Evidence,
    found: &[ResultImage],
    looked: &[String],
    pruned: &[String],
    refused: &[crate::kube::Access],
) -> Check {
    let Some(cat) = ctx.catalog() else {
        return Check::skip(
            G,
            "tekton.digests",
            "no usable catalog on the GitOps branch",
        );
    };
    let mut problems = Vec::new();
    let mut matched = Vec::new();
    let mut other = Vec::new();
    let mut rolled_back = Vec::new();
    for img in found {
        match cat
            .services
            .iter()
            .find(|(_, e)| e.image_repository == img.repository)
        {
            Some((id, e)) if e.digest == img.digest => {
                matched.push(json!({"service": id, "digest": img.digest, "from": img.from}))
            }
            // The run published the release a person then rolled back on purpose (`lane
            // rollback`, docs/rollback.md): the catalog records that very digest as what the
            // service ran before, so the run's evidence stands and the catalog is intended.
            Some((id, e))
                if e.status == EntryStatus::RolledBack
                    && e.rollback
                        .as_ref()
                        .is_some_and(|r| r.from.digest == img.digest) =>
            {
                rolled_back.push(json!({
                    "service": id, "published": img.digest, "from": img.from,
                    "catalog": e.digest,
                    "restores": e.rollback.as_ref().map(|r| &r.restores.source_commit),
                }))
            }
            Some((id, e)) => problems.push(format!(
                "{}: {} published {} but the catalog has {}",
                img.from, id, img.digest, e.digest
            )),
            None => other.push(
                json!({"repository": img.repository, "digest": img.digest, "from": img.from}),
            ),
        }
    }
    // Every image this commit built must be in the run's results.
    let mut unread = Vec::new();
    for (id, e) in &cat.services {
        let built_here = e.status == EntryStatus::Published && e.tag == ctx.commit;
        if built_here && !found.iter().any(|f| f.repository == e.image_repository) {
            if pruned.is_empty() && refused.is_empty() {
                problems.push(format!(
                    "{id} was published for this commit but the run's results do not name it"
                ));
            } else {
                unread.push(id.as_str());
            }
        }
    }
    // Results that cannot be read are missing evidence, said as such: not a wrong digest and
    // not a broken command.
    if !unread.is_empty() && !pruned.is_empty() {
        problems.push(format!(
            "the run's TaskRun(s) {} were pruned, so the digests published for {} can no longer be read",
            pruned.join(", "),
            unread.join(", ")
        ));
    }
    if !unread.is_empty() && !refused.is_empty() {
        problems.push(format!(
            "forbidden: the verifying identity may not {}, so the digests published for {} cannot be read",
            refused.iter().map(|a| a.describe()).collect::<Vec<_>>().join("; "),
            unread.join(", ")
        ));
    }
    let hint = if !refused.is_empty() {
        super::forbidden_hint(refused)
    } else if !pruned.is_empty() && !unread.is_empty() {
        "the evidence is gone: keep TaskRuns longer than the release takes (the Tekton pruner's keep/keep-since), have the Pipeline report the images in its own results, or run the pipeline for the commit again".to_string()
    } else {
        "the catalog must hold exactly the digests the run published: re-run promote with this run's publish results".to_string()
    };
    let mut ev = json!({"lookedAt": looked, "matched": matched, "rolledBack": rolled_back, "otherImages": other, "prunedTaskRuns": pruned});
    if !refused.is_empty() {
        ev["forbidden"] = json!(refused);
    }
    Check::judge(
        G,
        "tekton.digests",
        {
            let mut services: Vec<&str> = rolled_back
                .iter()
                .filter_map(|r| r["service"].as_str())
                .collect();
            services.dedup();
            if services.is_empty() {
                format!("{} published digest(s) equal the catalog's", matched.len())
            } else {
                format!(
                    "{} published digest(s) equal the catalog's; rolled back since on purpose: {}",
                    matched.len(),
                    services.join(", ")
                )
            }
        },
        problems,
        ev,
        hint,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn result_forms() {
        let d1 = format!("sha256:{}", "a".repeat(64));
        let d2 = format!("sha256:{}", "b".repeat(64));
        let results = vec![
            json!({"name": "IMAGES", "value": format!("r/x@{d1}, r/y:tag@{d2}")}),
            json!({"name": "MGR_IMAGE_URL", "value": "r/m:abc"}),
            json!({"name": "MGR_IMAGE_DIGEST", "value": d1}),
            json!({"name": "RUNNER_ARTIFACT_OUTPUTS", "value": {"uri": "r/run", "digest": d2}}),
        ];
        let got = images_from_results(&results, "pr");
        let pairs: Vec<(String, String)> = got
            .iter()
            .map(|i| (i.repository.clone(), i.digest.to_string()))
            .collect();
        assert_eq!(
            pairs,
            vec![
                ("r/x".into(), d1.clone()),
                ("r/y".into(), d2.clone()),
                ("r/m".into(), d1.clone()),
                ("r/run".into(), d2.clone()),
            ]
        );
        // Chains trims values: a step's `echo` leaves a newline after the digest.
        let padded = vec![
            json!({"name": "MGR_IMAGE_URL", "value": " r/m:abc\n"}),
            json!({"name": "MGR_IMAGE_DIGEST", "value": format!("{d1}\n")}),
            json!({"name": "RUNNER_ARTIFACT_OUTPUTS", "value": {"uri": "r/run\n", "digest": format!(" {d2} ")}}),
            json!({"name": "IMAGES", "value": format!("\n r/x@{d1}\n")}),
        ];
        let got: Vec<(String, String)> = images_from_results(&padded, "pr")
            .into_iter()
            .map(|i| (i.repository, i.digest.to_string()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("r/m".into(), d1.clone()),
                ("r/run".into(), d2.clone()),
                ("r/x".into(), d1.clone()),
            ]
        );
        assert_eq!(
            repository_of("127.0.0.1:5000/agentrun/mgr"),
            "127.0.0.1:5000/agentrun/mgr"
        );
        assert_eq!(
            repository_of("127.0.0.1:5000/agentrun/mgr:abc"),
            "127.0.0.1:5000/agentrun/mgr"
        );
    }
}
