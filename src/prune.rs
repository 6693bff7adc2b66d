//! `lane prune`: keep the newest finished PipelineRuns of one Pipeline and delete the older
//! ones. A run's per-run PersistentVolumeClaim (the Pipeline's `volumeClaimTemplate`) and its
//! TaskRuns are owned by the PipelineRun, so Kubernetes' garbage collector removes them with
//! it. Runs that have not finished (running, pending, being cancelled) are never touched.
//! The generated CronJob `pipelines/prune.yaml` runs this in the task image with a Role that
//! may only list and delete PipelineRuns in the CI namespace.

use serde::Serialize;
use serde_json::{json, Value};

use crate::error::{Classified, ExitClass, Failure};
use crate::kube::{self, KubeError};
use crate::output::{progress, Outcome, Report};

/// At most this many finished runs are kept (a bound on what one invocation reasons about).
pub const MAX_KEEP: u16 = 1000;

#[derive(Debug, Clone, clap::Args)]
pub struct PruneArgs {
    /// The CI namespace holding the runs.
    #[arg(long, value_name = "NAME", env = "LANE_PRUNE_NAMESPACE")]
    pub namespace: String,
    /// The Pipeline whose runs are pruned (its runs carry the label `tekton.dev/pipeline`).
    #[arg(long, value_name = "NAME", env = "LANE_PRUNE_PIPELINE")]
    pub pipeline: String,
    /// How many finished runs to keep, newest first by completion time.
    #[arg(long, value_name = "N", default_value_t = 10, env = "LANE_PRUNE_KEEP",
          value_parser = clap::value_parser!(u16).range(0..=MAX_KEEP as i64))]
    pub keep: u16,
    /// Say what would be deleted; delete nothing.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub kube: kube::args::AccessArgs,
}

/// One PipelineRun as the pruner sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    pub name: String,
    pub uid: String,
    /// `status.completionTime` (RFC 3339, comparable as text), `None` while not finished.
    pub finished: Option<String>,
}

impl Run {
    /// Finished means a completion time or a final `Succeeded` condition (True/False); a
    /// pending run (`spec.status: PipelineRunPending`) has neither.
    pub fn from_object(v: &Value) -> Option<Run> {
        let name = v.pointer("/metadata/name")?.as_str()?.to_string();
        let uid = v.pointer("/metadata/uid")?.as_str()?.to_string();
        let completion = v
            .pointer("/status/completionTime")
            .and_then(Value::as_str)
            .map(str::to_string);
        let succeeded = &kube::condition(v, "Succeeded")["status"];
        let final_condition = succeeded == "True" || succeeded == "False";
        let finished = match completion {
            Some(t) => Some(t),
            // Final but without a completion time: order it by its creation.
            None if final_condition => Some(
                v.pointer("/metadata/creationTimestamp")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
            ),
            None => None,
        };
        Some(Run {
            name,
            uid,
            finished,
        })
    }
}

/// (kept, to delete, not finished): the newest `keep` finished runs stay.
pub fn select(mut runs: Vec<Run>, keep: usize) -> (Vec<Run>, Vec<Run>, Vec<Run>) {
    let (mut finished, open): (Vec<Run>, Vec<Run>) =
        runs.drain(..).partition(|r| r.finished.is_some());
    // Newest first; the name breaks ties so that the choice is stable.
    finished.sort_by(|a, b| b.finished.cmp(&a.finished).then(b.name.cmp(&a.name)));
    let old = finished.split_off(keep.min(finished.len()));
    (finished, old, open)
}

#[derive(Debug, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PruneReport {
    pub namespace: String,
    pub pipeline: String,
    pub keep: u16,
    pub dry_run: bool,
    /// Finished runs kept, newest first.
    pub kept: Vec<String>,
    /// Finished runs deleted (or, with --dry-run, that would be).
    pub deleted: Vec<String>,
    /// Runs that had gone or been replaced before their delete reached the API server.
    pub gone: Vec<String>,
    /// Runs not finished: never deleted.
    pub unfinished: Vec<String>,
}

impl Report for PruneReport {
    fn text(&self) -> String {
        format!(
            "{}/{}: kept {} finished run(s), {} {}, {} not finished\n",
            self.namespace,
            self.pipeline,
            self.kept.len(),
            if self.dry_run {
                "would delete"
            } else {
                "deleted"
            },
            self.deleted.len(),
            self.unfinished.len()
        )
    }
}

/// A DNS-1123 label (namespace and Pipeline names go into the request path and selector).
fn check_name(flag: &str, v: &str) -> Result<(), Failure> {
    let ok = !v.is_empty()
        && v.len() <= 253
        && v.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        && !v.starts_with(['-', '.'])
        && !v.ends_with(['-', '.']);
    if ok {
        Ok(())
    } else {
        Err(PruneError::NotAName {
            flag: flag.to_string(),
            value: v.to_string(),
        }
        .into())
    }
}

/// Why `lane prune` did not run, beyond the Kubernetes client's errors.
#[derive(Debug, thiserror::Error)]
pub enum PruneError {
    #[error("--{flag} '{value}' is not a Kubernetes object name")]
    NotAName { flag: String, value: String },
}

impl Classified for PruneError {
    fn class(&self) -> ExitClass {
        ExitClass::Usage
    }
    fn hint(&self) -> Option<String> {
        Some(
            "lower-case letters, digits, '-' and '.', starting and ending with a letter or digit"
                .into(),
        )
    }
}

pub fn run(args: &PruneArgs) -> Result<Outcome, Failure> {
    check_name("namespace", &args.namespace)?;
    check_name("pipeline", &args.pipeline)?;
    let (_, client) = args.kube.client()?;
    let rt = crate::error::RuntimeError::runtime()?;
    let report = rt.block_on(prune(&client, args))?;
    Outcome::of(&report)
}

async fn prune(client: &kube::Client, args: &PruneArgs) -> Result<PruneReport, KubeError> {
    let base = format!(
        "/apis/tekton.dev/v1/namespaces/{}/pipelineruns",
        args.namespace
    );
    let mut runs = Vec::new();
    client
        .list(
            &base,
            Some(&format!("tekton.dev/pipeline={}", args.pipeline)),
            |item| runs.extend(Run::from_object(&item)),
        )
        .await?;
    let (kept, old, open) = select(runs, usize::from(args.keep));
    let mut report = PruneReport {
        namespace: args.namespace.clone(),
        pipeline: args.pipeline.clone(),
        keep: args.keep,
        dry_run: args.dry_run,
        kept: kept.into_iter().map(|r| r.name).collect(),
        deleted: Vec::new(),
        gone: Vec::new(),
        unfinished: open.into_iter().map(|r| r.name).collect(),
    };
    for r in old {
        if args.dry_run {
            report.deleted.push(r.name);
            continue;
        }
        // Background propagation: the TaskRuns, pods and the per-run PVC follow their owner.
        // The uid precondition never deletes a newer run that took the same name.
        let body = json!({
            "apiVersion": "v1",
            "kind": "DeleteOptions",
            "propagationPolicy": "Background",
            "preconditions": {"uid": r.uid},
        });
        if client.delete(&format!("{base}/{}", r.name), &body).await? {
            progress(format!("prune: deleted PipelineRun {}", r.name));
            report.deleted.push(r.name);
        } else {
            report.gone.push(r.name);
        }
    }
    progress(format!(
        "prune: {} kept, {} deleted, {} not finished",
        report.kept.len(),
        report.deleted.len(),
        report.unfinished.len()
    ));
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(name: &str, done: Option<&str>) -> Value {
        let mut v = json!({"metadata": {"name": name, "uid": format!("uid-{name}"),
            "creationTimestamp": "2026-01-01T00:00:00Z"}, "status": {}});
        if let Some(t) = done {
            v["status"] = json!({"completionTime": t,
                "conditions": [{"type": "Succeeded", "status": "True"}]});
        }
        v
    }

    #[test]
    fn keeps_the_newest_finished_and_never_an_unfinished_run() {
        let objs = [
            run("a", Some("2026-01-01T00:01:00Z")),
            run("b", Some("2026-01-01T00:03:00Z")),
            run("c", None),
            run("d", Some("2026-01-01T00:02:00Z")),
            json!({"metadata": {"name": "e", "uid": "u", "creationTimestamp": "2026-01-01T00:00:30Z"},
                   "spec": {"status": "PipelineRunPending"}, "status": {}}),
            json!({"metadata": {"name": "f", "uid": "u", "creationTimestamp": "2026-01-01T00:00:10Z"},
                   "status": {"conditions": [{"type": "Succeeded", "status": "False"}]}}),
        ];
        let runs: Vec<Run> = objs.iter().filter_map(Run::from_object).collect();
        let names = |v: Vec<Run>| v.into_iter().map(|r| r.name).collect::<Vec<_>>();
        let (kept, old, open) = select(runs.clone(), 2);
        assert_eq!(names(kept), ["b", "d"]);
        assert_eq!(names(old), ["a", "f"]);
        assert_eq!(names(open), ["c", "e"]);
        let (kept, old, _) = select(runs.clone(), 0);
        assert!(kept.is_empty());
        assert_eq!(old.len(), 4);
        let (kept, old, _) = select(runs, 100);
        assert_eq!(kept.len(), 4);
        assert!(old.is_empty());
    }

    #[test]
    fn names_are_checked_before_they_reach_a_path() {
        assert!(check_name("namespace", "agentrun-ci").is_ok());
        for bad in ["", "-x", "a/b", "A", "a?b", "x-", "a b"] {
            assert!(check_name("namespace", bad).is_err(), "{bad}");
        }
    }
}
