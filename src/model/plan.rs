//! The plan document: what `plan` decided per service, read by `publish` and the Pipeline.

use serde::{Deserialize, Serialize};

use super::intent::{BuildSource, ComponentKind};
use crate::commit::Commit;
use crate::digest::Digest;
use crate::model::{ImageRepository, ServiceId};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Plan {
    pub schema_version: u32,
    pub lane: String,
    pub source_repo: String,
    pub source_branch: String,
    pub gitops_branch: String,
    /// Full 40-hex source commit of this run.
    pub source_commit: Commit,
    /// Tip of the GitOps branch the previous catalog was read from (absent on `--init`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gitops_commit: Option<Commit>,
    /// `sourceCommit` of the previous catalog.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub catalog_source_commit: Option<Commit>,
    /// True when this run initialises the lane (no previous catalog).
    pub init: bool,
    pub services: Vec<PlannedService>,
    pub counts: PlanCounts,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Decision {
    /// Must be built from this commit.
    Affected,
    /// Build inputs unchanged: keep the catalog's image and digest.
    Reused,
    /// Image-only upstream service: publish resolves and pins its digest; never built.
    Pin,
    /// Does not take part in the lane (`enabled: false`).
    Excluded,
    /// Nothing to build or pin: reported so that nobody mistakes it for deployed.
    Unsupported,
}

impl Decision {
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Affected => "affected",
            Decision::Reused => "reused",
            Decision::Pin => "pin",
            Decision::Excluded => "excluded",
            Decision::Unsupported => "unsupported",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PlannedService {
    pub id: ServiceId,
    pub kind: ComponentKind,
    pub decision: Decision,
    /// Why, in words (`fingerprint changed`, `no catalog entry`, `forced`, `unchanged`, …).
    pub reason: String,
    /// Full image repository (registry host included), when the service has an image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_repository: Option<ImageRepository>,
    /// Tag to build/push (affected: the source commit), the reused image's tag, or the
    /// upstream tag to pin.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_fingerprint: Option<String>,
    /// Reused: the catalog digest that `publish` confirms still exists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<Digest>,
    /// Reused: the commit the kept image was built from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reused_from: Option<Commit>,
    /// Affected: what to build.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build: Option<BuildSource>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PlanCounts {
    pub total: usize,
    pub affected: usize,
    pub reused: usize,
    pub pin: usize,
    pub excluded: usize,
    pub unsupported: usize,
}

impl PlanCounts {
    pub fn of(services: &[PlannedService]) -> PlanCounts {
        let mut c = PlanCounts {
            total: services.len(),
            ..Default::default()
        };
        for s in services {
            match s.decision {
                Decision::Affected => c.affected += 1,
                Decision::Reused => c.reused += 1,
                Decision::Pin => c.pin += 1,
                Decision::Excluded => c.excluded += 1,
                Decision::Unsupported => c.unsupported += 1,
            }
        }
        c
    }
}

impl Plan {
    pub fn service(&self, id: &str) -> Option<&PlannedService> {
        self.services.iter().find(|s| s.id == id)
    }

    pub fn with_decision(&self, d: Decision) -> impl Iterator<Item = &PlannedService> {
        self.services.iter().filter(move |s| s.decision == d)
    }
}
