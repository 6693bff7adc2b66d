//! The rollback commit's message: a subject, what changed per service, and machine-readable
//! trailers (`Lane-Rollback-*`) naming both ends and who asked.

use super::plan::{ServiceChange, ServiceRollback};
use crate::model::catalog::ReleaseRef;

pub struct Ends<'a> {
    pub lane: &'a str,
    /// `lane`, or `services`.
    pub scope: &'a str,
    pub from: &'a ReleaseRef,
    pub to: &'a ReleaseRef,
    /// The source commit whose deploy intent the new tree is rendered from.
    pub intent_commit: &'a str,
    pub requested_by: &'a str,
    pub reason: Option<&'a str>,
}

fn short(c: &str) -> &str {
    &c[..12.min(c.len())]
}

pub fn compose(e: &Ends<'_>, services: &[ServiceRollback]) -> String {
    let rolled: Vec<&str> = services
        .iter()
        .filter(|s| s.change == ServiceChange::RolledBack)
        .map(|s| s.service.as_str())
        .collect();
    let what = if e.scope == "lane" {
        "the lane".to_string()
    } else {
        rolled.join(", ")
    };
    let mut m = format!(
        "lane {}: roll back {what} to GitOps {} (source {})\n\n",
        e.lane,
        short(&e.to.gitops_commit),
        short(&e.to.source_commit)
    );
    m.push_str(&format!(
        "Rolled back from GitOps {} (source {}) at the request of {}.\n",
        e.from.gitops_commit, e.from.source_commit, e.requested_by
    ));
    if let Some(r) = e.reason {
        m.push_str(&format!("Reason: {r}\n"));
    }
    m.push_str("\nServices:\n");
    for s in services {
        let change = serde_json::to_value(s.change)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        m.push_str(&format!(
            "- {}: {change} {} -> {}\n",
            s.service,
            s.from_digest.as_deref().unwrap_or("-"),
            s.to_digest.as_deref().unwrap_or("-")
        ));
    }
    m.push_str(&format!("\nLane: {}\n", e.lane));
    m.push_str(&format!("Lane-Source-Commit: {}\n", e.intent_commit));
    m.push_str(&format!("Lane-Rollback: {}\n", e.scope));
    m.push_str(&format!("Lane-Rollback-From: {}\n", e.from.gitops_commit));
    m.push_str(&format!(
        "Lane-Rollback-From-Source-Commit: {}\n",
        e.from.source_commit
    ));
    m.push_str(&format!("Lane-Rollback-To: {}\n", e.to.gitops_commit));
    m.push_str(&format!(
        "Lane-Rollback-To-Source-Commit: {}\n",
        e.to.source_commit
    ));
    m.push_str(&format!("Lane-Rollback-Services: {}\n", rolled.join(",")));
    m.push_str(&format!("Lane-Rollback-Requested-By: {}\n", e.requested_by));
    if let Some(r) = e.reason {
        m.push_str(&format!("Lane-Rollback-Reason: {r}\n"));
    }
    m
}
