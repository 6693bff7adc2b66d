//! The GitOps commit message: a subject, a readable body, and machine-readable trailers.

use super::merge::{ids_with, ServiceOutcome, ServiceResult};
use super::PromoteArgs;
use crate::model::Lane;

/// `lane v0.1: promote <short> (N published, M reused)`, the services, then trailers
/// (`Lane:`, `Lane-Source-Commit:`, `Lane-Pipeline-Run:`, `Lane-Services-*:`).
pub fn compose(
    lane: &Lane,
    commit: &str,
    args: &PromoteArgs,
    services: &[ServiceResult],
) -> String {
    let published = ids_with(services, ServiceOutcome::Published);
    let reused = ids_with(services, ServiceOutcome::Reused);
    let pinned = ids_with(services, ServiceOutcome::Pinned);
    let verb = if args.init {
        "initialise lane at"
    } else {
        "promote"
    };
    let mut m = format!(
        "lane {}: {verb} {} ({} published, {} reused)\n\n",
        lane.names.version,
        &commit[..12.min(commit.len())],
        published.len(),
        reused.len()
    );
    m.push_str(&format!(
        "Source commit {commit} of {}.\n",
        lane.names.source_branch
    ));
    if let Some(pr) = &args.pipeline_run {
        m.push_str(&format!("PipelineRun: {pr}\n"));
    }
    m.push_str("\nServices:\n");
    for s in services {
        let outcome = serde_json::to_value(s.outcome)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        match &s.digest {
            Some(d) => m.push_str(&format!("- {}: {outcome} {d}\n", s.service)),
            None => m.push_str(&format!("- {}: {outcome}\n", s.service)),
        }
    }
    m.push_str(&format!("\nLane: {}\n", lane.names.version));
    m.push_str(&format!("Lane-Source-Commit: {commit}\n"));
    if let Some(pr) = &args.pipeline_run {
        m.push_str(&format!("Lane-Pipeline-Run: {pr}\n"));
    }
    m.push_str(&format!(
        "Lane-Services-Published: {}\n",
        published.join(",")
    ));
    m.push_str(&format!("Lane-Services-Reused: {}\n", reused.join(",")));
    if !pinned.is_empty() {
        m.push_str(&format!("Lane-Services-Pinned: {}\n", pinned.join(",")));
    }
    if args.init {
        m.push_str("Lane-Init: true\n");
    }
    m
}
