//! The lane's last releases: the GitOps commits that changed the catalog (first-parent log of
//! the GitOps tip, git CLI), each with what changed in the catalog against the one before.

use std::collections::BTreeMap;

use super::model::{Change, Release};
use crate::git::gitops::GitopsHead;
use crate::git::{cli, GitError, Repo};
use crate::model::catalog_at::catalog_at;
use crate::model::{rules, Catalog, LaneNames};
use crate::verify::clip;

/// Most trailers kept per commit, and their longest value: a commit message is input.
const MAX_TRAILERS: usize = 20;
const MAX_VALUE: usize = 200;

/// The newest `count` catalog-changing commits reachable from `tip`, newest first, and
/// whether that is the whole history.
pub fn releases(
    repo: &Repo,
    names: &LaneNames,
    tip: &str,
    count: usize,
) -> Result<(Vec<Release>, bool), GitError> {
    // One more than shown: the oldest shown release is diffed against it.
    let n = format!("-n{}", count + 1);
    let out = cli::run(
        repo.path(),
        &[
            "log",
            "--first-parent",
            "--no-show-signature",
            &n,
            "--format=%H%x1f%ct%x1f%an%x1f%s%x1f%(trailers:only,unfold)%x1e",
            "--end-of-options",
            cli::positional(tip)?,
            "--",
            cli::positional(&names.catalog_path)?,
        ],
    )?;
    let mut rows: Vec<(Release, Option<Catalog>)> = Vec::new();
    for rec in out.split('\u{1e}') {
        let rec = rec.trim_start_matches('\n');
        if rec.trim().is_empty() {
            continue;
        }
        let f: Vec<&str> = rec.splitn(5, '\u{1f}').collect();
        let [commit, time, author, subject, trailers] = f[..] else {
            continue;
        };
        let Ok(commit) = crate::model::Commit::try_from(commit) else {
            continue;
        };
        let head = GitopsHead {
            git_ref: String::new(),
            commit: commit.clone(),
        };
        let (catalog, problem) = match catalog_at(repo, names, &head) {
            Ok(Some(c)) => (Some(c), None),
            Ok(None) => (None, Some("no catalog at this commit".to_string())),
            Err(e) => (None, Some(clip(&crate::error::chain(&e), 300))),
        };
        let release = Release {
            gitops_commit: commit.to_string(),
            committed_at: time
                .trim()
                .parse::<i64>()
                .map(rules::format_rfc3339)
                .unwrap_or_default(),
            author: clip(author, MAX_VALUE),
            subject: clip(subject, MAX_VALUE),
            source_commit: catalog.as_ref().map(|c| c.source_commit.to_string()),
            trailers: lane_trailers(trailers),
            changes: Vec::new(),
            catalog_problem: problem,
            digests: catalog
                .as_ref()
                .map(|c| {
                    c.services
                        .iter()
                        .map(|(k, e)| (k.clone(), e.digest.to_string()))
                        .collect()
                })
                .unwrap_or_default(),
        };
        rows.push((release, catalog));
    }
    let mut out = Vec::new();
    for i in 0..rows.len().min(count) {
        let older = rows.get(i + 1).and_then(|(_, c)| c.as_ref());
        let changes = match &rows[i].1 {
            Some(c) => changes(older, c),
            None => Vec::new(),
        };
        let mut r = rows[i].0.clone();
        r.changes = changes;
        out.push(r);
    }
    Ok((out, rows.len() <= count))
}

/// `Lane-*` trailers (`Key: value` lines as git prints them unfolded).
fn lane_trailers(text: &str) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    for line in text.lines() {
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        let k = k.trim();
        if k.starts_with("Lane") && k.len() <= 64 && m.len() < MAX_TRAILERS {
            m.insert(k.to_string(), clip(v.trim(), MAX_VALUE));
        }
    }
    m
}

/// Entries of `new` that differ from `old` (every entry when there is no `old`), and
/// entries `new` no longer has.
fn changes(old: Option<&Catalog>, new: &Catalog) -> Vec<Change> {
    let mut out = Vec::new();
    for (id, e) in &new.services {
        let before = old.and_then(|o| o.services.get(id));
        if before.is_some_and(|b| b.digest == e.digest && b.status == e.status) {
            continue;
        }
        out.push(Change {
            service: id.clone(),
            status: e.status.as_str().to_string(),
            digest: Some(e.digest.to_string()),
            previous_digest: before
                .map(|b| b.digest.to_string())
                .filter(|d| *d != e.digest),
            source_commit: Some(e.source_commit.to_string()),
            reused_from: e.reused_from.clone(),
        });
    }
    for id in old.into_iter().flat_map(|o| o.services.keys()) {
        if !new.services.contains_key(id) {
            out.push(Change {
                service: id.clone(),
                status: "removed".into(),
                digest: None,
                previous_digest: old
                    .and_then(|o| o.services.get(id))
                    .map(|e| e.digest.to_string()),
                source_commit: None,
                reused_from: None,
            });
        }
    }
    out
}

/// The GitOps commit where `digest` came in for `service`: the oldest of the newest releases
/// that all carry it. The flag is false when the read history (`whole`: all of it) ends
/// inside that run.
pub fn since(
    releases: &[Release],
    whole: bool,
    service: &str,
    digest: &str,
) -> (Option<String>, bool) {
    let mut found = None;
    for r in releases {
        if r.digests.get(service).map(String::as_str) == Some(digest) {
            found = Some(r.gitops_commit.clone());
        } else {
            return (found, true);
        }
    }
    (found, whole)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rel(commit: char, mgr: char) -> Release {
        Release {
            gitops_commit: commit.to_string().repeat(40),
            committed_at: String::new(),
            author: String::new(),
            subject: String::new(),
            source_commit: None,
            trailers: BTreeMap::new(),
            changes: Vec::new(),
            catalog_problem: None,
            digests: [("mgr".to_string(), mgr.to_string())].into(),
        }
    }

    #[test]
    fn since_is_the_oldest_of_the_newest_run_with_the_digest() {
        // Newest first: c and b carry digest x, a carried y.
        let list = [rel('c', 'x'), rel('b', 'x'), rel('a', 'y')];
        assert_eq!(
            since(&list, false, "mgr", "x"),
            (Some("b".repeat(40)), true)
        );
        // The read history ends inside the run: where it came in may be older.
        assert_eq!(
            since(&list[..2], false, "mgr", "x"),
            (Some("b".repeat(40)), false)
        );
        assert_eq!(
            since(&list[..2], true, "mgr", "x"),
            (Some("b".repeat(40)), true)
        );
        // A digest the tip does not carry came in nowhere in this run.
        assert_eq!(since(&list, false, "mgr", "y"), (None, true));
    }

    #[test]
    fn lane_trailers_only_bounded() {
        let t =
            lane_trailers("Lane: v0.1\nLane-Source-Commit: abc\nSigned-off-by: x\nnot a trailer");
        assert_eq!(t.len(), 2);
        assert_eq!(t["Lane-Source-Commit"], "abc");
        let many: String = (0..50).map(|i| format!("Lane-X{i}: v\n")).collect();
        assert_eq!(lane_trailers(&many).len(), MAX_TRAILERS);
    }
}
