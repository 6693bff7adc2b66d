//! Merging one run's publish results into the previous catalog.
//!
//! Rules: services not in this run keep their entries; services no longer in deploy.json lose
//! theirs (a disabled service keeps its entry: it may be re-enabled, and render skips it); an entry whose image content is unchanged keeps its timestamps (so
//! an identical re-run changes nothing); an entry already confirmed by a newer source commit
//! (this run's commit is its ancestor) is not applied and reported `superseded`.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::model::catalog::{CatalogDoc, CatalogEntry};
use crate::model::publish::PublishedImage;
use crate::model::{Commit, DeployIntent};

/// What happened to one service in this run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ServiceOutcome {
    /// A new image built by this lane is recorded.
    Published,
    /// The previous image is kept for this commit.
    Reused,
    /// An upstream image pinned by digest.
    Pinned,
    /// A newer source commit already holds this service: not applied.
    Superseded,
    /// Identical to the entry already in the catalog.
    Unchanged,
    /// Dropped: the service is no longer in deploy.json.
    Removed,
    /// Returned to an earlier entry by `lane rollback`.
    RolledBack,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceResult {
    pub service: String,
    pub outcome: ServiceOutcome,
    /// The source commit now recorded for the service (the newer one when superseded).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_commit: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
}

/// The merged catalog and what happened per service.
#[derive(Debug, Clone)]
pub struct Merged {
    pub catalog: CatalogDoc,
    pub services: Vec<ServiceResult>,
}

/// One run's inputs to the merge.
pub struct RunInput<'a> {
    pub source_commit: &'a Commit,
    pub pipeline_run: Option<&'a str>,
    pub images: &'a [PublishedImage],
    pub now: &'a str,
}

/// Image content that decides whether an entry changed (timestamps and provenance excluded).
fn same_content(a: &CatalogEntry, b: &CatalogEntry) -> bool {
    a.component == b.component
        && a.image_repository == b.image_repository
        && a.tag == b.tag
        && a.digest == b.digest
        && a.media_type == b.media_type
        && a.platforms == b.platforms
        && a.status == b.status
        && a.fingerprint == b.fingerprint
        && a.reused_from == b.reused_from
}

/// Merge `run` into `previous`. `is_ancestor(a, b)` answers whether commit `a` is an ancestor
/// of (or equal to) `b` in the source repository.
pub fn merge<E>(
    previous: &CatalogDoc,
    intent: &DeployIntent,
    run: &RunInput<'_>,
    mut is_ancestor: impl FnMut(&str, &str) -> Result<bool, E>,
) -> Result<Merged, E> {
    let mut services = previous.services.clone();
    let mut results = Vec::new();
    // A whole-lane rollback holds against its `from` commit and every older one: only a
    // newer source commit rolls the lane forward (docs/rollback.md).
    let lane_held = match &previous.rollback {
        Some(r) => is_ancestor(run.source_commit, &r.from.source_commit)?,
        None => false,
    };

    let declared: BTreeSet<&str> = intent.services.iter().map(|s| s.id.as_str()).collect();
    let gone: Vec<String> = services
        .keys()
        .filter(|id| !declared.contains(id.as_str()))
        .cloned()
        .collect();
    for id in gone {
        services.remove(&id);
        results.push(ServiceResult {
            service: id,
            outcome: ServiceOutcome::Removed,
            source_commit: None,
            digest: None,
        });
    }

    for image in run.images {
        if !declared.contains(image.service.as_str()) {
            // Only when an older run finishes late: the newer deploy intent it is merged into
            // no longer declares this service, so its image is superseded with the rest.
            results.push(ServiceResult {
                service: image.service.to_string(),
                outcome: ServiceOutcome::Superseded,
                source_commit: Some(run.source_commit.to_string()),
                digest: Some(image.digest.to_string()),
            });
            continue;
        }
        let new = image.to_entry(run.source_commit, run.pipeline_run, run.now);
        let old = services.get(image.service.as_str());
        let held = match old {
            _ if lane_held => true,
            Some(old) if old.source_commit != *run.source_commit => {
                is_ancestor(run.source_commit, old.newest_commit())?
            }
            // A rolled-back entry holds against the commit it was rolled back from too.
            Some(old) if old.rollback.is_some() => {
                is_ancestor(run.source_commit, old.newest_commit())?
            }
            _ => false,
        };
        let (entry, outcome) = match old {
            Some(old) if held => (old.clone(), ServiceOutcome::Superseded),
            Some(old) if same_content(old, &new) && old.source_commit == *run.source_commit => {
                (old.clone(), ServiceOutcome::Unchanged)
            }
            Some(old) => {
                let mut e = new.clone();
                if old.digest == e.digest {
                    e.published_at = old.published_at.clone();
                }
                let outcome = status_outcome(&e);
                (e, outcome)
            }
            None => {
                let outcome = status_outcome(&new);
                (new, outcome)
            }
        };
        results.push(ServiceResult {
            service: image.service.to_string(),
            outcome,
            source_commit: Some(entry.source_commit.to_string()),
            digest: Some(entry.digest.to_string()),
        });
        services.insert(image.service.to_string(), entry);
    }

    // The catalog's commit is the newest promoted one: keep the previous when this run's
    // commit is its ancestor (an older run finishing late), else take this run's.
    let (source_commit, rollback) = if lane_held
        || (previous.source_commit != *run.source_commit
            && is_ancestor(run.source_commit, &previous.source_commit)?)
    {
        (previous.source_commit.clone(), previous.rollback.clone())
    } else {
        // A newer source commit: the lane rolls forward and the rollback record goes.
        (run.source_commit.clone(), None)
    };
    let changed = services != previous.services
        || source_commit != previous.source_commit
        || rollback != previous.rollback;
    let catalog = CatalogDoc {
        source_commit,
        rollback,
        updated_at: if changed {
            run.now.to_string()
        } else {
            previous.updated_at.clone()
        },
        services,
        ..previous.clone()
    };
    results.sort_by(|a, b| a.service.cmp(&b.service));
    Ok(Merged {
        catalog,
        services: results,
    })
}

fn status_outcome(e: &CatalogEntry) -> ServiceOutcome {
    match e.status {
        crate::model::EntryStatus::Published => ServiceOutcome::Published,
        crate::model::EntryStatus::Reused => ServiceOutcome::Reused,
        crate::model::EntryStatus::Pinned => ServiceOutcome::Pinned,
        crate::model::EntryStatus::RolledBack => ServiceOutcome::RolledBack,
    }
}

/// Service ids per outcome, for the commit message and trailers.
pub fn ids_with(results: &[ServiceResult], outcome: ServiceOutcome) -> Vec<String> {
    results
        .iter()
        .filter(|r| r.outcome == outcome)
        .map(|r| r.service.clone())
        .collect()
}

/// Reject two different images for one service within a run.
pub fn dedupe(images: Vec<PublishedImage>) -> Result<Vec<PublishedImage>, String> {
    let mut by_id: BTreeMap<String, PublishedImage> = BTreeMap::new();
    for img in images {
        match by_id.get(img.service.as_str()) {
            Some(prev) if prev != &img => {
                return Err(img.service.to_string());
            }
            _ => {
                by_id.insert(img.service.to_string(), img);
            }
        }
    }
    Ok(by_id.into_values().collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::catalog::{ComponentIdentity, EntryStatus};
    use crate::model::intent::ComponentKind;

    fn cm(s: &str) -> Commit {
        Commit::try_from(s).unwrap()
    }

    const A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

    fn intent(ids: &[&str]) -> DeployIntent {
        let mut v: serde_json::Value =
            serde_json::from_str(include_str!("../../deploy/deploy.json")).unwrap();
        let template = v["services"][0].clone();
        v["services"] = ids
            .iter()
            .map(|id| {
                let mut s = template.clone();
                s["id"] = (*id).into();
                s
            })
            .collect();
        serde_json::from_value(v).unwrap()
    }

    fn image(id: &str, commit: &str, d: char) -> PublishedImage {
        PublishedImage {
            service: id.try_into().unwrap(),
            kind: ComponentKind::Deployment,
            repository: format!("127.0.0.1:5000/agentrun/{id}").try_into().unwrap(),
            tag: commit.into(),
            digest: crate::model::Digest::try_from(format!("sha256:{}", d.to_string().repeat(64)))
                .unwrap(),
            media_type: "application/vnd.oci.image.manifest.v1+json".into(),
            platforms: vec![],
            status: EntryStatus::Published,
            fingerprint: Some(format!("sha256:{}", "f".repeat(64))),
            reused_from: None,
        }
    }

    fn catalog(entries: &[(&str, &str, char)]) -> CatalogDoc {
        let mut c = CatalogDoc {
            schema_version: 1,
            lane: "v0.1".into(),
            source_repo: "r".into(),
            source_branch: "v0.1".into(),
            gitops_branch: "v0.1-gitops".into(),
            source_commit: cm(A),
            updated_at: "2026-01-01T00:00:00Z".into(),
            services: BTreeMap::new(),
            rollback: None,
        };
        for (id, commit, d) in entries {
            let mut e = image(id, commit, *d).to_entry(&cm(commit), None, "2026-01-01T00:00:00Z");
            e.component = ComponentIdentity {
                service: id.to_string(),
                kind: ComponentKind::Deployment,
            };
            c.services.insert(id.to_string(), e);
        }
        c
    }

    // B is newer than A.
    fn anc(a: &str, b: &str) -> Result<bool, ()> {
        Ok(a == b || (a == A && b == B))
    }

    #[test]
    fn identical_rerun_changes_nothing() {
        let prev = catalog(&[("x", A, '1'), ("y", A, '2')]);
        let imgs = [image("x", A, '1')];
        let run = RunInput {
            source_commit: &cm(A),
            pipeline_run: Some("pr-2"),
            images: &imgs,
            now: "2026-02-02T00:00:00Z",
        };
        let m = merge(&prev, &intent(&["x", "y"]), &run, anc).unwrap();
        assert_eq!(m.catalog, prev);
        assert_eq!(m.services[0].outcome, ServiceOutcome::Unchanged);
    }

    #[test]
    fn others_kept_and_new_entry_applied() {
        let prev = catalog(&[("x", A, '1'), ("y", A, '2')]);
        let imgs = [image("x", B, '3')];
        let run = RunInput {
            source_commit: &cm(B),
            pipeline_run: None,
            images: &imgs,
            now: "2026-02-02T00:00:00Z",
        };
        let m = merge(&prev, &intent(&["x", "y"]), &run, anc).unwrap();
        assert_eq!(m.catalog.services["y"], prev.services["y"]);
        assert_eq!(
            m.catalog.services["x"].digest,
            format!("sha256:{}", "3".repeat(64))
        );
        assert_eq!(m.catalog.source_commit, B);
        assert_eq!(m.catalog.updated_at, "2026-02-02T00:00:00Z");
    }

    #[test]
    fn older_run_is_superseded() {
        let prev = {
            let mut c = catalog(&[("x", B, '3')]);
            c.source_commit = cm(B);
            c
        };
        let imgs = [image("x", A, '1')];
        let run = RunInput {
            source_commit: &cm(A),
            pipeline_run: None,
            images: &imgs,
            now: "2026-02-02T00:00:00Z",
        };
        let m = merge(&prev, &intent(&["x"]), &run, anc).unwrap();
        assert_eq!(m.services[0].outcome, ServiceOutcome::Superseded);
        assert_eq!(m.catalog, prev);
    }

    #[test]
    fn services_gone_from_deploy_json_are_dropped() {
        let prev = catalog(&[("x", A, '1'), ("old", A, '2')]);
        let run = RunInput {
            source_commit: &cm(A),
            pipeline_run: None,
            images: &[],
            now: "2026-02-02T00:00:00Z",
        };
        let m = merge(&prev, &intent(&["x"]), &run, anc).unwrap();
        assert!(!m.catalog.services.contains_key("old"));
        assert_eq!(m.services[0].outcome, ServiceOutcome::Removed);
    }

    #[test]
    fn conflicting_duplicates_rejected() {
        assert_eq!(
            dedupe(vec![image("x", A, '1'), image("x", A, '2')]).unwrap_err(),
            "x"
        );
        assert_eq!(
            dedupe(vec![image("x", A, '1'), image("x", A, '1')])
                .unwrap()
                .len(),
            1
        );
    }

    const C: &str = "cccccccccccccccccccccccccccccccccccccccc";

    // A is older than B, B older than C.
    fn anc3(a: &str, b: &str) -> Result<bool, ()> {
        let order = |x: &str| [A, B, C].iter().position(|c| *c == x).unwrap();
        Ok(order(a) <= order(b))
    }

    fn rolled_back(mut e: CatalogEntry, from: &str) -> CatalogEntry {
        use crate::model::catalog::{EntryFrom, EntryRestores, EntryRollback};
        e.rollback = Some(EntryRollback {
            from: EntryFrom {
                digest: crate::model::Digest::try_from(format!("sha256:{}", "9".repeat(64)))
                    .unwrap(),
                source_commit: cm(from),
                gitops_commit: cm(&"e".repeat(40)),
            },
            restores: EntryRestores {
                status: e.status,
                source_commit: e.source_commit.clone(),
                gitops_commit: cm(&"d".repeat(40)),
            },
            requested_by: "ops".into(),
            at: "2026-01-01T00:00:00Z".into(),
            reason: None,
        });
        e.status = EntryStatus::RolledBack;
        e
    }

    #[test]
    fn a_rolled_back_entry_holds_against_its_from_commit_and_older() {
        // x was at B, rolled back to A's entry.
        let mut prev = catalog(&[("x", A, '1')]);
        prev.source_commit = cm(B);
        let e = prev.services["x"].clone();
        prev.services.insert("x".into(), rolled_back(e, B));
        let findings = crate::model::check::catalog::record_rules(&prev.to_text());
        assert!(findings.is_empty(), "{findings:?}");
        for late in [A, B] {
            let imgs = [image("x", late, '5')];
            let run = RunInput {
                source_commit: &cm(late),
                pipeline_run: None,
                images: &imgs,
                now: "2026-02-02T00:00:00Z",
            };
            let m = merge(&prev, &intent(&["x"]), &run, anc3).unwrap();
            assert_eq!(m.services[0].outcome, ServiceOutcome::Superseded, "{late}");
            assert_eq!(m.catalog, prev, "a run of {late} undid the rollback");
        }
        // C is newer: it rolls forward, and the entry is a plain published one again.
        let imgs = [image("x", C, '7')];
        let run = RunInput {
            source_commit: &cm(C),
            pipeline_run: None,
            images: &imgs,
            now: "2026-02-02T00:00:00Z",
        };
        let m = merge(&prev, &intent(&["x"]), &run, anc3).unwrap();
        assert_eq!(m.services[0].outcome, ServiceOutcome::Published);
        assert_eq!(m.catalog.services["x"].rollback, None);
        assert_eq!(m.catalog.source_commit, C);
    }

    #[test]
    fn a_rolled_back_lane_keeps_its_intent_until_a_newer_commit() {
        use crate::model::catalog::{LaneRollback, ReleaseRef};
        let mut prev = catalog(&[("x", A, '1')]);
        prev.rollback = Some(Box::new(LaneRollback {
            from: ReleaseRef {
                source_commit: cm(B),
                gitops_commit: cm(&"e".repeat(40)),
            },
            restores: ReleaseRef {
                source_commit: cm(A),
                gitops_commit: cm(&"d".repeat(40)),
            },
            requested_by: "ops".into(),
            at: "2026-01-01T00:00:00Z".into(),
            reason: None,
        }));
        let findings = crate::model::check::catalog::record_rules(&prev.to_text());
        assert!(findings.is_empty(), "{findings:?}");
        let imgs = [image("x", B, '5')];
        let run = RunInput {
            source_commit: &cm(B),
            pipeline_run: None,
            images: &imgs,
            now: "2026-02-02T00:00:00Z",
        };
        let m = merge(&prev, &intent(&["x"]), &run, anc3).unwrap();
        assert_eq!(m.catalog, prev);
        let imgs = [image("x", C, '7')];
        let run = RunInput {
            source_commit: &cm(C),
            pipeline_run: None,
            images: &imgs,
            now: "2026-02-02T00:00:00Z",
        };
        let m = merge(&prev, &intent(&["x"]), &run, anc3).unwrap();
        assert_eq!(m.catalog.source_commit, C);
        assert_eq!(m.catalog.rollback, None);
        assert_eq!(m.services[0].outcome, ServiceOutcome::Published);
    }
}
