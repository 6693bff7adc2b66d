//! Tekton results of the plan step. Kubernetes carries all results of a step in the
//! container's termination message, at most 4096 bytes for the whole step, wrapped by Tekton
//! as `[{"key":<name>,"value":<escaped value>,"type":1},...]`. The full plan goes to the
//! workspace file (`--out`); results only carry what the Pipeline branches on.

use std::path::{Path, PathBuf};

use serde_json::json;

use crate::model::plan::{Decision, Plan};

/// Kubernetes' termination message limit (bytes, all results of one step together).
pub const TERMINATION_MESSAGE_LIMIT: usize = 4096;
/// Kept free for what Tekton's entrypoint adds to the same message (e.g. `StartedAt`).
pub const ENTRYPOINT_RESERVE: usize = 128;

/// One result: where to write it and its exact value (no trailing newline).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResultFile {
    pub path: PathBuf,
    pub value: String,
}

/// `["id",...]` of the affected services in plan order: a Pipeline `matrix` parameter.
pub fn affected_value(plan: &Plan) -> String {
    let ids: Vec<&str> = plan
        .with_decision(Decision::Affected)
        .map(|s| s.id.as_str())
        .collect();
    serde_json::to_string(&ids).expect("strings serialize")
}

pub fn counts_value(plan: &Plan) -> String {
    serde_json::to_string(&plan.counts).expect("counts serialize")
}

/// Bytes the results take in the termination message, the way Tekton writes it (the result
/// name is the file name of its `$(results.<name>.path)`).
pub fn termination_message_size(results: &[ResultFile]) -> usize {
    let entries: Vec<_> = results
        .iter()
        .map(|r| {
            let key = r
                .path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            json!({"key": key, "value": r.value, "type": 1})
        })
        .collect();
    serde_json::to_string(&entries)
        .map(|s| s.len())
        .unwrap_or(usize::MAX)
}

/// The budget the results must fit in.
pub fn budget() -> usize {
    TERMINATION_MESSAGE_LIMIT - ENTRYPOINT_RESERVE
}

/// The result files requested by the flags.
pub fn collect(
    plan: &Plan,
    affected: Option<&Path>,
    counts: Option<&Path>,
    commit: Option<&Path>,
) -> Vec<ResultFile> {
    let mut out = Vec::new();
    if let Some(p) = affected {
        out.push(ResultFile {
            path: p.to_path_buf(),
            value: affected_value(plan),
        });
    }
    if let Some(p) = counts {
        out.push(ResultFile {
            path: p.to_path_buf(),
            value: counts_value(plan),
        });
    }
    if let Some(p) = commit {
        out.push(ResultFile {
            path: p.to_path_buf(),
            value: plan.source_commit.to_string(),
        });
    }
    out
}
