//! Group 5, clean source: deploy.json at the commit is valid, the source branch tracks no
//! generated state, docs do not name the old dev/prod lanes as a target, and a worktree is
//! clean and at the remote branch tip.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use regex_lite::Regex;
use serde_json::json;

use super::{Check, Evidence, Group, DEPLOY_PATH};
use crate::git::Repo;
use crate::model::at_commit::deploy_file_at;
use crate::model::{Lane, LaneAtError};

const G: Group = Group::Source;

/// The lane of `deploy.json` at `commit`, or the failed `source.deploy-json` check.
pub fn lane_at(repo: &Repo, commit: &str) -> Result<Lane, Box<Check>> {
    let file = deploy_file_at(commit);
    Lane::at_commit(repo, commit).map_err(|e| {
        Box::new(match e {
            LaneAtError::Invalid(e) => Check::fail(
                G,
                "source.deploy-json",
                crate::error::chain(&e),
                json!({"file": file, "findings": e.findings()}),
                "fix the fields named in the findings; `lane validate deploy/deploy.json` lists them",
            ),
            LaneAtError::Missing { .. } => Check::fail(
                G,
                "source.deploy-json",
                format!("{DEPLOY_PATH} does not exist at {commit}"),
                json!({"file": file}),
                "deploy/deploy.json on the source branch is the lane's one hand-written CD truth; commit it",
            ),
            LaneAtError::Read { source, .. } => Check::fail(
                G,
                "source.deploy-json",
                format!("cannot read {file}: {source}"),
                json!({"file": file}),
                "pass --repo with a repository that holds the commit",
            ),
        })
    })
}

pub fn run(ctx: &Evidence) -> Vec<Check> {
    let files = match ctx.repo.list_files(&ctx.commit, "") {
        Ok(f) => f,
        Err(e) => {
            return vec![Check::fail(
                G,
                "source",
                format!("cannot list the tree of {}: {e}", ctx.commit),
                json!({}),
                "pass --repo with a repository that holds the commit",
            )]
        }
    };
    vec![
        deploy_json(ctx),
        untracked_generated(ctx, &files),
        legacy_targets(ctx, &files),
        clean(ctx),
    ]
}

fn deploy_json(ctx: &Evidence) -> Check {
    match lane_at(&ctx.repo, &ctx.commit) {
        Err(c) => *c,
        Ok(lane) => {
            let mut problems = Vec::new();
            if lane.names != ctx.lane.names {
                problems.push(format!(
                    "the lane names of {DEPLOY_PATH} at the commit differ from those of {}",
                    ctx.lane_origin
                ));
            }
            Check::judge(
                G,
                "source.deploy-json",
                format!(
                    "{DEPLOY_PATH} is valid: lane {}, {} service(s)",
                    lane.names.version,
                    lane.intent().services.len()
                ),
                problems,
                json!({
                    "file": deploy_file_at(&ctx.commit),
                    "lane": lane.names.version,
                    "services": lane.intent().services.iter().map(|s| s.id.clone()).collect::<Vec<_>>(),
                }),
                "verify with the deploy.json of the commit (drop --deploy) or commit the intended one",
            )
        }
    }
}

/// Generated state that must never be tracked on the source branch (docs/architecture.md, "Truth
/// sources").
fn untracked_generated(ctx: &Evidence, files: &BTreeMap<String, String>) -> Check {
    let n = &ctx.lane.names;
    let runtime_prefix = format!("{}/", n.runtime_path.trim_end_matches('/'));
    let runtime_parent = n
        .runtime_path
        .rsplit_once('/')
        .map(|(p, _)| format!("{p}/"))
        .unwrap_or_default();
    let mut found = Vec::new();
    for path in files.keys() {
        let name = path.rsplit('/').next().unwrap_or(path);
        let why = if *path == n.catalog_path {
            Some("the lane's artifact catalog")
        } else if path.starts_with(&runtime_prefix) || *path == n.runtime_path {
            Some("the lane's rendered runtime tree")
        } else if name.starts_with("artifact-catalog") && name.ends_with(".json") {
            Some("an artifact catalog")
        } else if !runtime_parent.is_empty()
            && path
                .strip_prefix(&runtime_parent)
                .is_some_and(|rest| rest.starts_with("runtime-") && rest.contains('/'))
        {
            Some("a rendered runtime tree of a lane")
        } else {
            None
        };
        if let Some(w) = why {
            found.push(format!("{path} ({w})"));
        }
    }
    let problems = if found.is_empty() {
        vec![]
    } else {
        vec![format!(
            "the source commit tracks generated state: {}",
            found.join(", ")
        )]
    };
    Check::judge(
        G,
        "source.untracked-generated",
        "no catalog, runtime tree or other generated state on the source branch",
        problems,
        json!({
            "commit": ctx.commit,
            "catalogPath": n.catalog_path,
            "runtimePath": n.runtime_path,
            "trackedFiles": files.len(),
            "found": found,
        }),
        "`git rm --cached` them on the source branch: catalog and runtime tree live only on the GitOps branch",
    )
}

fn legacy_name() -> &'static Regex {
    static R: OnceLock<Regex> = OnceLock::new();
    R.get_or_init(|| Regex::new(r"agentrun[_-](dev|prod)\b").unwrap())
}

/// Words that make a line a deprecation note, history, or a prohibition (which is how the
/// seed itself names the old lanes: "不得作为…", "不复用…", "only as history").
fn allowed_context() -> &'static Regex {
    static R: OnceLock<Regex> = OnceLock::new();
    R.get_or_init(|| {
        Regex::new(
            r"(?i)(deprecat|legacy|histor|obsolete|retired|formerly|no longer|\bnever\b|\bnot\b|must not|forbid|废弃|弃用|历史|以前|旧|不得|不能|不再|不作为|不复用|不参与|禁止|不是)",
        )
        .unwrap()
    })
}

fn heading_allows(h: &str) -> bool {
    allowed_context().is_match(h)
}

/// Lines of a markdown file that name `agentrun_dev`/`agentrun_prod` outside a deprecation
/// note, a history section or a prohibition.
pub fn legacy_mentions(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut section_allows = false;
    let mut in_code = false;
    for (i, line) in text.lines().enumerate() {
        let t = line.trim_start();
        if t.starts_with("```") {
            in_code = !in_code;
        }
        if !in_code && t.starts_with('#') {
            section_allows = heading_allows(t);
            continue;
        }
        if legacy_name().is_match(line) && !section_allows && !allowed_context().is_match(line) {
            out.push((i + 1, line.trim().chars().take(160).collect()));
        }
    }
    out
}

fn legacy_targets(ctx: &Evidence, files: &BTreeMap<String, String>) -> Check {
    let mut problems = Vec::new();
    let mut scanned = 0usize;
    for (path, id) in files {
        if !path.to_ascii_lowercase().ends_with(".md") {
            continue;
        }
        scanned += 1;
        let Ok(bytes) = ctx.repo.read_blob(id) else {
            continue;
        };
        for (line, text) in legacy_mentions(&String::from_utf8_lossy(&bytes)) {
            problems.push(format!("{path}:{line}: {text}"));
        }
    }
    Check::judge(
        G,
        "source.legacy-targets",
        format!("{scanned} markdown file(s): agentrun_dev/agentrun_prod appear only as deprecation or history"),
        problems,
        json!({"markdownFiles": scanned}),
        "agentrun_dev/agentrun_prod are never a namespace, Argo destination, pipeline target or acceptance target of a lane: reword the line as a deprecation note or move it to a history section",
    )
}

fn clean(ctx: &Evidence) -> Check {
    let n = &ctx.lane.names;
    if ctx.repo.gix().workdir().is_none() {
        return Check::skip(
            G,
            "source.clean",
            format!(
                "{} is a bare repository: no worktree to be clean",
                ctx.repo.path().display()
            ),
        );
    }
    let dir = ctx.repo.path();
    let status = match crate::git::cli::run(
        dir,
        &["status", "--porcelain=v1", "--untracked-files=normal"],
    ) {
        Ok(s) => s,
        Err(e) => {
            return Check::fail(
                G,
                "source.clean",
                format!("git status failed: {e}"),
                json!({}),
                "run inside the source worktree or pass --repo",
            )
        }
    };
    let dirty: Vec<String> = status.lines().map(|l| l.to_string()).take(50).collect();
    let branch = crate::git::cli::run(dir, &["symbolic-ref", "--quiet", "--short", "HEAD"])
        .ok()
        .map(|s| s.trim().to_string());
    let head = ctx.repo.resolve_commit("HEAD").ok();
    let upstream_ref = format!("refs/remotes/origin/{}", n.source_branch);
    let upstream = ctx.repo.ref_target(&upstream_ref).ok().flatten();
    let mut problems = Vec::new();
    if !dirty.is_empty() {
        problems.push(format!(
            "the worktree has {} uncommitted change(s)",
            status.lines().count()
        ));
    }
    match &branch {
        Some(b) if *b == n.source_branch => {}
        Some(b) => problems.push(format!(
            "the worktree is on branch '{b}', not the lane's source branch '{}'",
            n.source_branch
        )),
        // A CI checkout is detached at the commit: fine, as long as that commit is the
        // remote branch tip (checked below).
        None => {}
    }
    match (&head, &upstream) {
        (_, None) => problems.push(format!("{upstream_ref} does not exist: fetch origin")),
        (Some(h), Some(u)) if h == u => {}
        (h, Some(u)) => problems.push(format!(
            "HEAD {} is not {upstream_ref} {u}",
            h.as_deref().unwrap_or("?")
        )),
    }
    if head.as_deref().is_some_and(|h| h != ctx.commit) {
        problems.push(format!(
            "HEAD {} is not the verified commit {}",
            head.as_deref().unwrap_or("?"),
            ctx.commit
        ));
    }
    Check::judge(
        G,
        "source.clean",
        format!("worktree clean on {} at {upstream_ref}", n.source_branch),
        problems,
        json!({
            "worktree": dir.display().to_string(),
            "branch": branch,
            "head": head,
            "upstream": upstream_ref,
            "upstreamCommit": upstream,
            "changes": dirty,
        }),
        format!(
            "commit or discard local changes, `git switch {b}` and `git pull --ff-only origin {b}` (the release source is origin/{b})",
            b = n.source_branch
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_lines_are_allowed() {
        let doc = "\
- v0.1 是独立 lane,不复用 `agentrun_dev` 或 `agentrun_prod` 作为当前运行面。
- `agentrun_dev` 和 `agentrun_prod` 不得作为 v0.1 namespace、Argo destination。
- agentrun_dev/agentrun_prod are no longer targets.
";
        assert!(
            legacy_mentions(doc).is_empty(),
            "{:?}",
            legacy_mentions(doc)
        );
    }

    #[test]
    fn a_target_is_flagged_unless_in_history() {
        let doc = "\
# Deploy
The runtime namespace is agentrun_prod.
## 历史背景
The old runtime namespace was agentrun_dev.
## Targets
Argo destination: agentrun-dev
";
        let m = legacy_mentions(doc);
        assert_eq!(m.len(), 2, "{m:?}");
        assert_eq!(m[0].0, 2);
        assert_eq!(m[1].0, 6);
    }
}
