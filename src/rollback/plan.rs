//! The catalog a rollback writes, from the current one (at the GitOps tip) and the one of the
//! release it returns to. Pure: no git, no registry.
//!
//! - Services: each named service's entry becomes its entry in the earlier catalog, with
//!   status `rolled-back` and a record of what ran before (`from`) and what it restores. The
//!   lane's deploy intent stays the current one.
//! - The whole lane: the earlier catalog and its deploy intent (its `sourceCommit`) come back,
//!   with a lane-level record. A service whose image did not change keeps its current entry;
//!   one the current catalog does not have comes back as it was (the lane record covers it).
//!
//! In both, `from.sourceCommit` is the newest source commit released before, so that
//! out-of-order protection holds the rollback against a late run of it or of anything older
//! (src/promote/merge.rs).

use serde::Serialize;

use crate::model::catalog::{
    CatalogDoc, CatalogEntry, EntryFrom, EntryRestores, EntryRollback, EntryStatus, LaneRollback,
    ReleaseRef,
};
use crate::model::Commit;

/// Who asked, why and when; the two GitOps commits involved.
pub struct Request<'a> {
    pub requested_by: &'a str,
    pub reason: Option<&'a str>,
    pub now: &'a str,
    /// The GitOps tip the rollback replaces.
    pub from_gitops: &'a Commit,
    /// The earlier GitOps commit whose catalog is restored.
    pub to_gitops: &'a Commit,
}

/// What the rollback does to one service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ServiceChange {
    /// Its entry is now the earlier one (status `rolled-back`).
    RolledBack,
    /// The earlier release had it and the current catalog does not: restored as it was.
    Restored,
    /// Same image in both: nothing to roll back.
    Unchanged,
    /// The earlier release did not have it: its entry goes with the newer deploy intent.
    Removed,
}

#[derive(Debug, Clone, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceRollback {
    pub service: String,
    pub change: ServiceChange,
    /// The digest that ran before (none for a restored service).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from_digest: Option<String>,
    /// The digest it runs now (none for a removed service).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to_digest: Option<String>,
    /// The source commit of the entry it runs now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_commit: Option<String>,
}

/// Why a rollback cannot be planned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlanProblem {
    /// The service has no entry in the earlier catalog.
    NotInTarget(String),
    /// The service has no entry now (the current deploy intent does not declare it).
    NotCurrent(String),
    /// Its kind changed since (a job then, a deployment now): the entry does not fit.
    KindChanged { service: String },
}

fn same_image(a: &CatalogEntry, b: &CatalogEntry) -> bool {
    a.image_repository == b.image_repository && a.digest == b.digest
}

/// `target` as a rolled-back entry replacing `current`.
fn rolled_back(target: &CatalogEntry, current: &CatalogEntry, req: &Request<'_>) -> CatalogEntry {
    let mut e = target.clone();
    e.status = EntryStatus::RolledBack;
    e.updated_at = req.now.to_string();
    e.rollback = Some(EntryRollback {
        from: EntryFrom {
            digest: current.digest.clone(),
            source_commit: current.newest_commit().clone(),
            gitops_commit: req.from_gitops.clone(),
        },
        restores: EntryRestores {
            status: target.image_status(),
            source_commit: target.source_commit.clone(),
            gitops_commit: req.to_gitops.clone(),
        },
        requested_by: req.requested_by.to_string(),
        at: req.now.to_string(),
        reason: req.reason.map(str::to_string),
    });
    e
}

fn result(
    service: &str,
    change: ServiceChange,
    from: Option<&CatalogEntry>,
    to: Option<&CatalogEntry>,
) -> ServiceRollback {
    ServiceRollback {
        service: service.to_string(),
        change,
        from_digest: from.map(|e| e.digest.to_string()),
        to_digest: to.map(|e| e.digest.to_string()),
        source_commit: to.map(|e| e.source_commit.to_string()),
    }
}

/// Roll back `services` of `current` to their entries in `target`.
pub fn services(
    current: &CatalogDoc,
    target: &CatalogDoc,
    services: &[String],
    req: &Request<'_>,
) -> Result<(CatalogDoc, Vec<ServiceRollback>), PlanProblem> {
    let mut next = current.clone();
    let mut out = Vec::new();
    for id in services {
        let t = target
            .services
            .get(id)
            .ok_or_else(|| PlanProblem::NotInTarget(id.clone()))?;
        let c = current
            .services
            .get(id)
            .ok_or_else(|| PlanProblem::NotCurrent(id.clone()))?;
        if t.component.kind != c.component.kind {
            return Err(PlanProblem::KindChanged {
                service: id.clone(),
            });
        }
        if same_image(t, c) {
            out.push(result(id, ServiceChange::Unchanged, Some(c), Some(c)));
            continue;
        }
        let e = rolled_back(t, c, req);
        out.push(result(id, ServiceChange::RolledBack, Some(c), Some(&e)));
        next.services.insert(id.clone(), e);
    }
    if next.services != current.services {
        next.updated_at = req.now.to_string();
    }
    out.sort_by(|a, b| a.service.cmp(&b.service));
    Ok((next, out))
}

/// Roll the whole lane back to `target` (its entries and its deploy intent).
pub fn lane(
    current: &CatalogDoc,
    target: &CatalogDoc,
    req: &Request<'_>,
) -> (CatalogDoc, Vec<ServiceRollback>) {
    let mut out = Vec::new();
    let mut services = std::collections::BTreeMap::new();
    for (id, t) in &target.services {
        match current.services.get(id) {
            Some(c) if same_image(t, c) => {
                out.push(result(id, ServiceChange::Unchanged, Some(c), Some(c)));
                services.insert(id.clone(), c.clone());
            }
            Some(c) => {
                let e = rolled_back(t, c, req);
                out.push(result(id, ServiceChange::RolledBack, Some(c), Some(&e)));
                services.insert(id.clone(), e);
            }
            None => {
                out.push(result(id, ServiceChange::Restored, None, Some(t)));
                services.insert(id.clone(), t.clone());
            }
        }
    }
    for (id, c) in &current.services {
        if !target.services.contains_key(id) {
            out.push(result(id, ServiceChange::Removed, Some(c), None));
        }
    }
    out.sort_by(|a, b| a.service.cmp(&b.service));
    // Already there (the same images under the same deploy intent): nothing to record.
    if current.source_commit == target.source_commit
        && out.iter().all(|s| s.change == ServiceChange::Unchanged)
    {
        return (current.clone(), out);
    }
    let next = CatalogDoc {
        source_commit: target.source_commit.clone(),
        updated_at: req.now.to_string(),
        services,
        rollback: Some(Box::new(LaneRollback {
            from: ReleaseRef {
                source_commit: current.newest_commit().clone(),
                gitops_commit: req.from_gitops.clone(),
            },
            restores: ReleaseRef {
                source_commit: target.source_commit.clone(),
                gitops_commit: req.to_gitops.clone(),
            },
            requested_by: req.requested_by.to_string(),
            at: req.now.to_string(),
            reason: req.reason.map(str::to_string),
        })),
        ..current.clone()
    };
    (next, out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::catalog::ComponentIdentity;
    use crate::model::intent::ComponentKind;
    use std::collections::BTreeMap;

    const A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
    fn cm(s: &str) -> Commit {
        Commit::try_from(s).unwrap()
    }

    const G1: &str = "1111111111111111111111111111111111111111";
    const G2: &str = "2222222222222222222222222222222222222222";

    fn entry(id: &str, commit: &str, d: char) -> CatalogEntry {
        CatalogEntry {
            component: ComponentIdentity {
                service: id.into(),
                kind: ComponentKind::Deployment,
            },
            image_repository: format!("127.0.0.1:5000/agentrun/{id}").try_into().unwrap(),
            tag: commit.into(),
            digest: crate::model::Digest::try_from(format!("sha256:{}", d.to_string().repeat(64)))
                .unwrap(),
            media_type: None,
            platforms: vec![],
            status: EntryStatus::Published,
            source_commit: cm(commit),
            reused_from: None,
            fingerprint: Some(format!("sha256:{}", "f".repeat(64))),
            pipeline_run: None,
            published_at: "2026-01-01T00:00:00Z".into(),
            updated_at: "2026-01-01T00:00:00Z".into(),
            rollback: None,
        }
    }

    fn catalog(commit: &str, entries: &[CatalogEntry]) -> CatalogDoc {
        CatalogDoc {
            schema_version: 1,
            lane: "v0.1".into(),
            source_repo: "r".into(),
            source_branch: "v0.1".into(),
            gitops_branch: "v0.1-gitops".into(),
            source_commit: cm(commit),
            updated_at: "2026-01-01T00:00:00Z".into(),
            services: entries
                .iter()
                .map(|e| (e.component.service.clone(), e.clone()))
                .collect::<BTreeMap<_, _>>(),
            rollback: None,
        }
    }

    fn req() -> Request<'static> {
        Request {
            requested_by: "ops <ops@example.invalid>",
            reason: Some("bad release"),
            now: "2026-02-01T00:00:00Z",
            // The request borrows its commits for the whole test.
            from_gitops: Box::leak(Box::new(cm(G2))),
            to_gitops: Box::leak(Box::new(cm(G1))),
        }
    }

    #[test]
    fn one_service_goes_back_and_records_both_ends() {
        let old = catalog(A, &[entry("x", A, '1'), entry("y", A, '2')]);
        let cur = catalog(B, &[entry("x", B, '3'), entry("y", B, '2')]);
        let (next, out) = services(&cur, &old, &["x".into(), "y".into()], &req()).unwrap();
        let findings = crate::model::check::catalog::record_rules(&next.to_text());
        assert!(findings.is_empty(), "{findings:?}");
        let x = &next.services["x"];
        assert_eq!(x.status, EntryStatus::RolledBack);
        assert_eq!(x.digest, old.services["x"].digest);
        let r = x.rollback.as_ref().unwrap();
        assert_eq!(r.from.digest, cur.services["x"].digest);
        assert_eq!(r.from.source_commit, B);
        assert_eq!(r.restores.gitops_commit, G1);
        assert_eq!(r.restores.status, EntryStatus::Published);
        // y's image is the same in both: untouched.
        assert_eq!(next.services["y"], cur.services["y"]);
        assert_eq!(next.source_commit, B);
        assert_eq!(
            out.iter().map(|s| s.change).collect::<Vec<_>>(),
            [ServiceChange::RolledBack, ServiceChange::Unchanged]
        );
        assert_eq!(
            services(&cur, &old, &["z".into()], &req()).unwrap_err(),
            PlanProblem::NotInTarget("z".into())
        );
    }

    #[test]
    fn a_second_rollback_keeps_the_newest_commit_released() {
        let a = catalog(A, &[entry("x", A, '1')]);
        let b = catalog(B, &[entry("x", B, '3')]);
        let (rolled, _) = services(&b, &a, &["x".into()], &req()).unwrap();
        // Back to B's entry, then to A's again: `from` stays B, the newest released.
        let (again, _) = services(&rolled, &b, &["x".into()], &req()).unwrap();
        assert_eq!(again.services["x"].newest_commit(), B);
        assert_eq!(again.services["x"].digest, b.services["x"].digest);
    }

    #[test]
    fn the_whole_lane_takes_the_earlier_intent_and_entries() {
        let old = catalog(A, &[entry("x", A, '1'), entry("gone", A, '5')]);
        let cur = catalog(B, &[entry("x", B, '3'), entry("new", B, '4')]);
        let (next, out) = lane(&cur, &old, &req());
        let findings = crate::model::check::catalog::record_rules(&next.to_text());
        assert!(findings.is_empty(), "{findings:?}");
        assert_eq!(next.source_commit, A);
        let r = next.rollback.as_ref().unwrap();
        assert_eq!(
            (r.from.source_commit.as_str(), r.from.gitops_commit.as_str()),
            (B, G2)
        );
        assert_eq!(
            (
                r.restores.source_commit.as_str(),
                r.restores.gitops_commit.as_str()
            ),
            (A, G1)
        );
        assert_eq!(next.services["x"].status, EntryStatus::RolledBack);
        assert_eq!(next.services["gone"], old.services["gone"]);
        assert!(!next.services.contains_key("new"));
        let changes: Vec<_> = out.iter().map(|s| (s.service.as_str(), s.change)).collect();
        assert_eq!(
            changes,
            [
                ("gone", ServiceChange::Restored),
                ("new", ServiceChange::Removed),
                ("x", ServiceChange::RolledBack)
            ]
        );
        // The same rollback again finds the lane there already.
        let (again, _) = lane(&next, &old, &req());
        assert_eq!(again, next);
    }
}
