//! The decision per service, as a pure function of the intent, the build fingerprint and the
//! previous catalog entry (no git, no I/O), so that every rule is unit-tested on its own.

use crate::model::catalog::{CatalogEntry, EntryStatus};
use crate::model::intent::{BuildSource, LaneSpec, Service, UpstreamImage};
use crate::model::plan::{Decision, PlannedService};

/// What the planner knows about one enabled, built service.
pub struct BuildFacts<'a> {
    pub build: &'a BuildSource,
    pub fingerprint: String,
    /// The previous catalog's entry; `None` also on `--init`.
    pub entry: Option<&'a CatalogEntry>,
    pub forced: bool,
    pub init: bool,
    /// The 40-hex source commit of this run.
    pub commit: &'a str,
}

fn base(s: &Service, decision: Decision, reason: String) -> PlannedService {
    PlannedService {
        id: s.id.clone(),
        kind: s.kind,
        decision,
        reason,
        image_repository: None,
        tag: None,
        fingerprint: None,
        previous_fingerprint: None,
        digest: None,
        reused_from: None,
        build: None,
    }
}

pub fn excluded(s: &Service, lane: &LaneSpec) -> PlannedService {
    let mut p = base(
        s,
        Decision::Excluded,
        "enabled is false in deploy.json: the service does not take part in the lane".into(),
    );
    if s.build.is_some() || s.upstream.is_some() {
        p.image_repository = Some(s.image_repository(lane));
    }
    p
}

pub fn unsupported(s: &Service) -> PlannedService {
    base(
        s,
        Decision::Unsupported,
        "neither build nor upstream is set in deploy.json: there is nothing to build or pin; \
         add a build (context, dockerfile) or an upstream image, or set enabled to false"
            .into(),
    )
}

pub fn pin(s: &Service, lane: &LaneSpec, u: &UpstreamImage) -> PlannedService {
    let mut p = base(
        s,
        Decision::Pin,
        format!(
            "image-only upstream service: publish resolves {}:{} to its digest; never built",
            u.repository, u.tag
        ),
    );
    p.image_repository = Some(s.image_repository(lane));
    p.tag = Some(u.tag.clone());
    p
}

/// Affected or reused, and why.
pub fn built(s: &Service, lane: &LaneSpec, f: BuildFacts<'_>) -> PlannedService {
    let repository = s.image_repository(lane);
    let previous = f.entry.and_then(|e| e.fingerprint.clone());
    let affected_reason = if f.forced {
        Some("forced with --force".to_string())
    } else if f.init {
        Some("lane initialisation: every service is built once".to_string())
    } else {
        match f.entry {
            None => Some("no catalog entry for this service".into()),
            Some(e) if e.image_status() == EntryStatus::Pinned || e.fingerprint.is_none() => Some(
                "the catalog entry is a pinned upstream image; the service is now built from source"
                    .into(),
            ),
            Some(e) if e.image_repository != repository => Some(format!(
                "image repository changed from {} to {}",
                e.image_repository, repository
            )),
            Some(e) if e.fingerprint.as_deref() != Some(f.fingerprint.as_str()) => {
                Some("build fingerprint changed".into())
            }
            Some(_) => None,
        }
    };
    match (affected_reason, f.entry) {
        (None, Some(e)) => {
            let mut p = base(
                s,
                Decision::Reused,
                format!(
                    "build fingerprint unchanged: keeps the image built from {}",
                    e.tag
                ),
            );
            p.image_repository = Some(e.image_repository.clone());
            p.tag = Some(e.tag.clone());
            p.fingerprint = Some(f.fingerprint);
            p.previous_fingerprint = previous;
            p.digest = Some(e.digest.clone());
            p.reused_from = e.built_from();
            p
        }
        (reason, _) => {
            let mut p = base(
                s,
                Decision::Affected,
                reason.unwrap_or_else(|| "no catalog entry for this service".into()),
            );
            p.image_repository = Some(repository);
            p.tag = Some(f.commit.to_string());
            p.fingerprint = Some(f.fingerprint);
            p.previous_fingerprint = previous;
            p.build = Some(f.build.clone());
            p
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::catalog::ComponentIdentity;
    use crate::model::intent::ComponentKind;

    fn lane() -> LaneSpec {
        serde_json::from_value(serde_json::json!({
            "version": "v0.1", "project": "agentrun", "cluster": "g14",
            "sourceRepo": "git@github.com:pikasTech/agentrun.git",
            "registry": {"host": "127.0.0.1:5000", "repositoryPrefix": "agentrun"}
        }))
        .unwrap()
    }

    fn service() -> Service {
        serde_json::from_value(serde_json::json!({
            "id": "mgr", "kind": "deployment",
            "build": {"context": "apps/mgr", "dockerfile": "apps/mgr/Dockerfile"}
        }))
        .unwrap()
    }

    fn entry(fp: &str) -> CatalogEntry {
        CatalogEntry {
            component: ComponentIdentity {
                service: "mgr".into(),
                kind: ComponentKind::Deployment,
            },
            image_repository: "127.0.0.1:5000/agentrun/mgr".try_into().unwrap(),
            tag: "a".repeat(40),
            digest: crate::model::Digest::try_from(format!("sha256:{}", "d".repeat(64))).unwrap(),
            media_type: None,
            platforms: vec![],
            status: EntryStatus::Published,
            source_commit: crate::model::Commit::try_from("a".repeat(40)).unwrap(),
            reused_from: None,
            fingerprint: Some(fp.into()),
            pipeline_run: None,
            published_at: "2026-11-01T00:00:00Z".into(),
            updated_at: "2026-11-01T00:00:00Z".into(),
            rollback: None,
        }
    }

    fn decide(entry: Option<&CatalogEntry>, fp: &str, forced: bool) -> PlannedService {
        let s = service();
        let commit = "c".repeat(40);
        built(
            &s,
            &lane(),
            BuildFacts {
                build: s.build.as_ref().unwrap(),
                fingerprint: fp.into(),
                entry,
                forced,
                init: false,
                commit: &commit,
            },
        )
    }

    #[test]
    fn unchanged_is_reused_with_catalog_image() {
        let e = entry("sha256:x");
        let p = decide(Some(&e), "sha256:x", false);
        assert_eq!(p.decision, Decision::Reused);
        assert_eq!(p.digest.as_ref(), Some(&e.digest));
        assert_eq!(p.reused_from.as_deref(), Some(e.tag.as_str()));
        assert_eq!(p.tag.as_deref(), Some(e.tag.as_str()));
        assert!(p.build.is_none());
    }

    #[test]
    fn changed_missing_forced_are_affected() {
        let e = entry("sha256:x");
        for (p, why) in [
            (decide(Some(&e), "sha256:y", false), "fingerprint changed"),
            (decide(None, "sha256:y", false), "no catalog entry"),
            (decide(Some(&e), "sha256:x", true), "forced"),
        ] {
            assert_eq!(p.decision, Decision::Affected, "{why}");
            assert!(p.reason.contains(why), "{} / {why}", p.reason);
            assert_eq!(p.tag.as_deref(), Some("c".repeat(40).as_str()));
            assert!(p.digest.is_none() && p.reused_from.is_none());
            assert!(p.build.is_some());
        }
    }

    #[test]
    fn repository_move_or_former_pin_is_affected() {
        let mut e = entry("sha256:x");
        e.image_repository = "old.example:5000/agentrun/mgr".try_into().unwrap();
        let p = decide(Some(&e), "sha256:x", false);
        assert_eq!(p.decision, Decision::Affected);
        assert!(
            p.reason.contains("image repository changed"),
            "{}",
            p.reason
        );
        let mut e = entry("sha256:x");
        e.status = EntryStatus::Pinned;
        e.fingerprint = None;
        assert_eq!(
            decide(Some(&e), "sha256:x", false).decision,
            Decision::Affected
        );
    }
}
