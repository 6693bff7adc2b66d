//! The status document: one lane's header and, per service, the chain source → catalog →
//! GitOps → Argo CD → live, each link either known or `unknown` with the reason.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::commit::Commit;
use serde_json::Value;

/// A value, or why it could not be read. Serialized as the value itself, or as
/// `{"unknown": "<reason>"}`.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
#[serde(untagged)]
pub enum Known<T> {
    Yes(T),
    Unknown { unknown: String },
}

impl<T> Known<T> {
    pub fn unknown(reason: impl Into<String>) -> Known<T> {
        Known::Unknown {
            unknown: reason.into(),
        }
    }
    pub fn get(&self) -> Option<&T> {
        match self {
            Known::Yes(v) => Some(v),
            Known::Unknown { .. } => None,
        }
    }
    pub fn reason(&self) -> Option<&str> {
        match self {
            Known::Yes(_) => None,
            Known::Unknown { unknown } => Some(unknown),
        }
    }
}

/// Where a service stands, worst first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// Something that should run does not (failed health, stuck rollout, missing workload).
    Degraded,
    /// A link of the chain could not be read (and nothing read is degraded).
    Unknown,
    /// On its way: Argo CD behind the GitOps tip, out of sync, or a rollout not finished.
    Progressing,
    /// Live runs the catalog's digest, Argo CD is synced and healthy at the GitOps tip.
    Current,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Degraded => "degraded",
            State::Progressing => "progressing",
            State::Unknown => "unknown",
            State::Current => "current",
        }
    }
}

/// A ref the repository holds and the commit it points at.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Tip {
    pub branch: String,
    pub git_ref: String,
    pub commit: Commit,
}

#[derive(Debug, Clone, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GitopsView {
    pub branch: String,
    pub git_ref: String,
    pub commit: Commit,
    /// The newest source commit the catalog records.
    pub catalog_source_commit: Known<String>,
    /// The source tip is that commit (nothing newer waits for a release).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_released: Option<bool>,
    /// The whole lane runs a deliberately restored earlier release (`lane rollback`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rollback: Option<crate::model::catalog::LaneRollback>,
}

/// The lane's Argo CD Application as Argo CD reports it.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ArgoView {
    pub application: String,
    pub sync_status: String,
    pub sync_revision: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deployed_revision: Option<String>,
    pub health: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operation_phase: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operation_message: Option<String>,
    /// Argo CD compares the GitOps tip (`null` when the tip is unknown).
    pub at_gitops_tip: Option<bool>,
    /// The Application's resources that are not Healthy or not Synced (`Kind/name: state`),
    /// at most 20: what keeps the Application from being Healthy.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_ready: Vec<String>,
}

#[derive(Debug, Clone, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunView {
    pub name: String,
    pub namespace: String,
    /// succeeded, failed, running (the Succeeded condition: True, False, Unknown or none).
    pub outcome: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commit: Option<Commit>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub completion_time: Option<String>,
}

/// The lane's own names (where status looked).
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Where {
    pub namespace: String,
    pub argo_application: String,
    pub pipeline: String,
    pub catalog_path: String,
    pub runtime_path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_server: Option<String>,
}

/// A service's catalog entry.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CatalogView {
    /// published, reused, pinned (or any later status the catalog records, e.g. rolled-back).
    pub status: String,
    pub source_commit: Commit,
    /// Reused: the commit the image was built from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reused_from: Option<Commit>,
    pub image_repository: String,
    pub tag: String,
    pub digest: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pipeline_run: Option<String>,
    pub updated_at: String,
    /// `rolled-back`: what was rolled back from, the release it restores, who asked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rollback: Option<crate::model::catalog::EntryRollback>,
    /// The whole entry as the catalog holds it.
    pub entry: Value,
}

/// The GitOps commits that carry a service's entry.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Carry {
    /// The GitOps tip (whose catalog and runtime tree hold the entry).
    pub commit: Commit,
    /// The oldest GitOps commit of the tip's unbroken run with this digest: where it came in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    /// False when the history read ends before `since` was found.
    pub since_complete: bool,
}

/// The Argo CD resource of a service's workload.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ArgoResource {
    pub kind: String,
    pub name: String,
    pub sync_status: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub health: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub health_message: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DigestCount {
    pub digest: String,
    pub pods: usize,
}

/// What runs for a service.
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LiveView {
    /// `Deployment/<name>` or `CronJob/<name>`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workload: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ready_replicas: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated_replicas: Option<i64>,
    /// Pods with the service label, Running ones, and Running ones whose containers are all
    /// ready.
    pub pods: usize,
    pub running_pods: usize,
    pub ready_pods: usize,
    /// Registry digests the containers of ready pods run, with how many pods run each.
    pub ready_digests: Vec<DigestCount>,
    /// Every judged container runs the digest the catalog (or the tree) pins.
    pub runs_catalog_digest: bool,
    /// A job service: its CronJob pins the catalog's image.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub runner_pins_catalog: Option<bool>,
    /// The service's health endpoint through the API server's proxy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health_ok: Option<bool>,
    /// What verify's live checks found wrong for this service.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<String>,
    /// The rollout cannot progress (ProgressDeadlineExceeded, namespace or workload missing).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub stuck: bool,
}

#[derive(Debug, Clone, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceView {
    pub id: String,
    pub kind: String,
    pub state: State,
    /// Why the state is not `current`, one line each.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub why: Vec<String>,
    pub catalog: Known<CatalogView>,
    pub gitops: Known<Carry>,
    pub argo: Known<ArgoResource>,
    pub live: Known<LiveView>,
}

/// One change of a catalog entry in a release.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Change {
    pub service: String,
    /// The entry's status after the release; `removed` when the entry went away.
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_digest: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_commit: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reused_from: Option<Commit>,
}

/// A GitOps commit that changed the catalog.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Release {
    pub gitops_commit: String,
    pub committed_at: String,
    pub author: String,
    pub subject: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_commit: Option<String>,
    /// `Lane-*` trailers of the commit message (source commit, PipelineRun, rollback, …).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub trailers: BTreeMap<String, String>,
    /// Entries that changed against the previous release in this list (all entries for the
    /// oldest one read, whose predecessor was not read).
    pub changes: Vec<Change>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub catalog_problem: Option<String>,
    /// service → digest at this commit, to find where a digest came in (not printed).
    #[serde(skip)]
    pub digests: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, Serialize, serde::Deserialize)]
pub struct Counts {
    pub current: usize,
    pub progressing: usize,
    pub degraded: usize,
    pub unknown: usize,
}

#[derive(Debug, Clone, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusReport {
    pub lane: String,
    pub observed_at: String,
    pub names: Where,
    pub source: Known<Tip>,
    pub gitops: Known<GitopsView>,
    pub argo: Known<ArgoView>,
    /// The lane Pipeline's newest PipelineRun; `null` when there is none yet.
    pub pipeline_run: Known<Option<RunView>>,
    pub services: Vec<ServiceView>,
    pub summary: Counts,
    pub releases: Known<Vec<Release>>,
}

/// The worst state of a service and why, from what was read.
pub fn judge(s: &ServiceView, argo: &Known<ArgoView>) -> (State, Vec<String>) {
    let mut why = Vec::new();
    let mut state = State::Current;
    let mut worse = |st: State, reason: String, why: &mut Vec<String>| {
        state = state.min(st);
        why.push(reason);
    };
    for (link, reason) in [
        ("catalog", s.catalog.reason()),
        ("gitops", s.gitops.reason()),
        ("argo", s.argo.reason()),
        ("live", s.live.reason()),
    ] {
        if let Some(r) = reason {
            worse(State::Unknown, format!("{link}: unknown ({r})"), &mut why);
        }
    }
    if let Some(a) = argo.get() {
        if a.at_gitops_tip == Some(false) {
            worse(
                State::Progressing,
                format!(
                    "Argo CD compares {}, not the GitOps tip",
                    or_none(&short(&a.sync_revision))
                ),
                &mut why,
            );
        }
        if matches!(a.operation_phase.as_deref(), Some("Failed" | "Error")) {
            worse(
                State::Degraded,
                format!(
                    "the last Argo CD sync {}",
                    a.operation_phase.as_deref().unwrap_or_default()
                ),
                &mut why,
            );
        }
    }
    if let Some(r) = s.argo.get() {
        if r.sync_status != "Synced" {
            worse(
                State::Progressing,
                format!("{}/{} is {}", r.kind, r.name, or_none(&r.sync_status)),
                &mut why,
            );
        }
        match r.health.as_str() {
            "Degraded" | "Missing" => worse(
                State::Degraded,
                format!("Argo CD health of {}/{} is {}", r.kind, r.name, r.health),
                &mut why,
            ),
            "Progressing" | "Suspended" if r.kind != "CronJob" => worse(
                State::Progressing,
                format!("Argo CD health of {}/{} is {}", r.kind, r.name, r.health),
                &mut why,
            ),
            _ => {}
        }
    }
    if let Some(l) = s.live.get() {
        if l.stuck {
            worse(
                State::Degraded,
                l.problems
                    .first()
                    .cloned()
                    .unwrap_or_else(|| "the rollout is stuck".into()),
                &mut why,
            );
        }
        if let (Some(want), Some(ready)) = (l.replicas, l.ready_replicas) {
            if ready < want {
                worse(
                    State::Progressing,
                    format!("{ready}/{want} replicas ready"),
                    &mut why,
                );
            }
        }
        if !l.runs_catalog_digest {
            worse(
                State::Progressing,
                "a running container runs another digest than the catalog's".into(),
                &mut why,
            );
        }
        if l.runner_pins_catalog == Some(false) {
            worse(
                State::Progressing,
                "the runner template does not pin the catalog's image".into(),
                &mut why,
            );
        }
        if l.health_ok == Some(false) {
            worse(
                State::Degraded,
                format!(
                    "health endpoint: {}",
                    l.health.as_deref().unwrap_or("failing")
                ),
                &mut why,
            );
        }
    }
    (state, why)
}

fn or_none(s: &str) -> &str {
    if s.is_empty() {
        "unknown"
    } else {
        s
    }
}

/// The first 12 characters of a commit (or the whole value when shorter).
pub fn short(commit: &str) -> String {
    commit.chars().take(12).collect()
}

/// The hex of a `sha256:` digest, cut to 12.
pub fn short_digest(d: &str) -> String {
    d.strip_prefix("sha256:")
        .unwrap_or(d)
        .chars()
        .take(12)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(live: Known<LiveView>, argo: Known<ArgoResource>) -> ServiceView {
        ServiceView {
            id: "mgr".into(),
            kind: "deployment".into(),
            state: State::Unknown,
            why: Vec::new(),
            catalog: Known::unknown("not read in this test"),
            gitops: Known::unknown("not read in this test"),
            argo,
            live,
        }
    }

    fn resource(sync: &str, health: &str) -> Known<ArgoResource> {
        Known::Yes(ArgoResource {
            kind: "Deployment".into(),
            name: "mgr".into(),
            sync_status: sync.into(),
            health: health.into(),
            health_message: String::new(),
        })
    }

    #[test]
    fn degraded_outranks_unknown_which_outranks_progressing() {
        let ready = LiveView {
            replicas: Some(1),
            ready_replicas: Some(1),
            runs_catalog_digest: true,
            ..Default::default()
        };
        let no_app = Known::unknown("no Application");
        // Catalog unknown: unknown, with the reason.
        let (st, why) = judge(
            &service(Known::Yes(ready.clone()), resource("Synced", "Healthy")),
            &no_app,
        );
        assert_eq!(st, State::Unknown);
        assert!(why[0].starts_with("catalog: unknown (not read"), "{why:?}");
        // A failing health endpoint is degraded even with links unknown.
        let sick = LiveView {
            health_ok: Some(false),
            health: Some("mgr answers HTTP 503 on /health".into()),
            ..ready.clone()
        };
        let (st, _) = judge(
            &service(Known::Yes(sick), resource("Synced", "Healthy")),
            &no_app,
        );
        assert_eq!(st, State::Degraded);
        // Out of sync and a replica short: progressing (the catalog made known).
        let mut s = service(
            Known::Yes(LiveView {
                ready_replicas: Some(0),
                ..ready
            }),
            resource("OutOfSync", "Progressing"),
        );
        s.catalog = Known::Yes(CatalogView {
            status: "published".into(),
            source_commit: Commit::try_from("a".repeat(40)).unwrap(),
            reused_from: None,
            image_repository: "r/mgr".into(),
            tag: "a".repeat(40),
            digest: format!("sha256:{}", "a".repeat(64)),
            pipeline_run: None,
            updated_at: String::new(),
            rollback: None,
            entry: Value::Null,
        });
        s.gitops = Known::Yes(Carry {
            commit: Commit::try_from("b".repeat(40)).unwrap(),
            since: None,
            since_complete: true,
        });
        let (st, why) = judge(&s, &no_app);
        assert_eq!(st, State::Progressing, "{why:?}");
        assert!(why.iter().any(|w| w == "0/1 replicas ready"), "{why:?}");
        assert!(why.iter().any(|w| w.contains("is OutOfSync")), "{why:?}");
    }
}
