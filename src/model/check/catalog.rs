//! Catalog rules, all in one place: what a catalog records (commits, digests, statuses,
//! rollback records, timestamps), the lane it belongs to, and the formats of what it refers
//! to (repository, branches, image repositories, media types, platforms). Paths use the one
//! notation of [`key_path`].

use serde_json::Value;

use super::{key_path, scan, typed, Finding, Findings, InputError};
use crate::model::catalog::{
    rollback_text_problem, Catalog, CatalogText, EntryStatus, EntryText, LaneRollback, NotTyped,
    CATALOG_SCHEMA_VERSION,
};
use crate::model::commit::{Commit, NotACommit};
use crate::model::digest::{Digest, NotADigest};
use crate::model::names::LaneNames;
use crate::model::rules;

/// Load and check a catalog file: strict parse, format rules, and (when names are given) the
/// lane it belongs to. The one way to a [`Catalog`]: digests are parsed as text first, so that
/// every bad one is reported, then typed once the rules have passed.
pub fn parse_catalog(
    bytes: &[u8],
    file: &str,
    names: Option<&LaneNames>,
) -> Result<Catalog, InputError> {
    let value: Value = super::load::parse_json(bytes, file)?;
    if !value.is_object() {
        return Err(InputError::Invalid {
            file: file.into(),
            findings: vec![typed::not_an_object()],
        });
    }
    // A catalog never holds a credential either.
    let findings = scan::scan_catalog(&value);
    if !findings.is_empty() {
        return Err(InputError::Invalid {
            file: file.into(),
            findings,
        });
    }
    let cat: CatalogText = typed::from_value(value, file)?;
    let findings = check_catalog(&cat, names);
    if !findings.is_empty() {
        return Err(InputError::Invalid {
            file: file.into(),
            findings,
        });
    }
    // The rules above named every digest and commit that is not one, so this cannot fail;
    // were a rule ever to miss one, the catalog is refused all the same.
    cat.into_typed()
        .map(Catalog::checked)
        .map_err(|e| InputError::Invalid {
            file: file.into(),
            findings: vec![Finding {
                path: "$".into(),
                rule: match e {
                    NotTyped::Digest(_) => "digest",
                    NotTyped::Commit(_) => "commit-sha",
                    NotTyped::ImageRepository(_) => "image-repository",
                }
                .into(),
                message: e.to_string(),
            }],
        })
}

/// Every rule of a typed catalog, in report order; with `names`, also that it is this
/// lane's.
pub fn check_catalog(cat: &CatalogText, names: Option<&LaneNames>) -> Vec<Finding> {
    let mut out = Findings::default();
    records(cat, &mut out);
    if let Some(names) = names {
        lane_rules(cat, names, &mut out);
    }
    format_rules(cat, &mut out);
    let mut findings = out.into_vec();
    findings.dedup();
    findings
}

/// What the catalog records: schema version, lane version, commits, digests, statuses and
/// their rollback records, timestamps (the rules a catalog that promote or rollback builds
/// must pass whatever its lane and references).
pub fn record_rules(cat: &CatalogText) -> Vec<Finding> {
    let mut out = Findings::default();
    records(cat, &mut out);
    out.into_vec()
}

fn records(cat: &CatalogText, out: &mut Findings) {
    if cat.schema_version != CATALOG_SCHEMA_VERSION {
        out.add(
            "$.schemaVersion".into(),
            "schema-version",
            format!(
                "catalog schemaVersion {} is not supported; supported: {}",
                cat.schema_version, CATALOG_SCHEMA_VERSION
            ),
        );
    }
    if !rules::is_lane_version(&cat.lane) {
        out.add(
            "$.lane".into(),
            "lane-version",
            "must look like v<major>.<minor>, e.g. v0.1".into(),
        );
    }
    commit_field("$.sourceCommit".into(), &cat.source_commit, out);
    if !rules::is_timestamp(&cat.updated_at) {
        out.add(
            "$.updatedAt".into(),
            "timestamp",
            "must be RFC 3339 UTC like 2026-01-02T03:04:05Z".into(),
        );
    }
    if let Some(r) = &cat.rollback {
        lane_rollback(cat, r, out);
    }
    for (id, e) in &cat.services {
        let p = key_path("$.services", id);
        entry_rollback(&p, e, out);
        entry_rules(id, &p, e, out);
    }
}

/// A commit field: rule `commit-sha`, with the advice of the `Commit` type itself.
fn commit_field(path: String, v: &str, out: &mut Findings) {
    if !Commit::is_valid(v) {
        out.add(path, "commit-sha", NotACommit.to_string());
    }
}

/// A digest field: rule `digest`, with the advice of the `Digest` type itself.
fn digest_field(path: String, v: &str, out: &mut Findings) {
    if !Digest::is_valid(v) {
        out.add(path, "digest", NotADigest.to_string());
    }
}

/// The four commits of a rollback record under `at` (the lane's or an entry's): what it was
/// rolled back from and what it restores, each a source and a GitOps commit.
fn rollback_commits(at: &str, from: [&str; 2], restores: [&str; 2], out: &mut Findings) {
    for (side, [source, gitops]) in [("from", from), ("restores", restores)] {
        commit_field(format!("{at}.{side}.sourceCommit"), source, out);
        commit_field(format!("{at}.{side}.gitopsCommit"), gitops, out);
    }
}

/// A whole-lane rollback record: commits, the restored release's intent, who and when.
fn lane_rollback(cat: &CatalogText, r: &LaneRollback<String>, out: &mut Findings) {
    rollback_commits(
        "$.rollback",
        [&r.from.source_commit, &r.from.gitops_commit],
        [&r.restores.source_commit, &r.restores.gitops_commit],
        out,
    );
    if r.restores.source_commit != cat.source_commit {
        out.add(
            "$.rollback.restores.sourceCommit".into(),
            "rollback-intent",
            "a rolled-back lane's sourceCommit is the restored release's".into(),
        );
    }
    rollback_common(out, "$.rollback", &r.requested_by, &r.at, &r.reason);
}

/// An entry's rollback record: present exactly on rolled-back entries, and consistent.
fn entry_rollback(p: &str, e: &EntryText, out: &mut Findings) {
    match (&e.status, &e.rollback) {
        (EntryStatus::RolledBack, None) => out.add(
            format!("{p}.rollback"),
            "rollback-record",
            "a rolled-back entry records what it was rolled back from and to".into(),
        ),
        (EntryStatus::RolledBack, Some(r)) => {
            if r.restores.status == EntryStatus::RolledBack {
                out.add(
                    format!("{p}.rollback.restores.status"),
                    "rollback-record",
                    "the restored status is published, reused or pinned".into(),
                );
            }
            digest_field(format!("{p}.rollback.from.digest"), &r.from.digest, out);
            rollback_commits(
                &format!("{p}.rollback"),
                [&r.from.source_commit, &r.from.gitops_commit],
                [&r.restores.source_commit, &r.restores.gitops_commit],
                out,
            );
            if r.restores.source_commit != e.source_commit {
                out.add(
                    format!("{p}.rollback.restores.sourceCommit"),
                    "rollback-record",
                    "a rolled-back entry keeps the restored entry's sourceCommit".into(),
                );
            }
            rollback_common(
                out,
                &format!("{p}.rollback"),
                &r.requested_by,
                &r.at,
                &r.reason,
            );
        }
        (_, Some(_)) => out.add(
            format!("{p}.rollback"),
            "rollback-record",
            "only rolled-back entries carry a rollback record".into(),
        ),
        _ => {}
    }
}

/// An entry: its key, digest and commit, then its status and timestamp rules.
fn entry_rules(id: &str, p: &str, e: &EntryText, out: &mut Findings) {
    if !rules::is_dns1123_label(id) {
        out.add(
            p.to_string(),
            "dns1123-label",
            "service id must be a DNS-1123 label".into(),
        );
    }
    if e.component.service != id {
        out.add(
            format!("{p}.component.service"),
            "entry-key",
            format!(
                "entry is keyed '{id}' but names service '{}'",
                e.component.service
            ),
        );
    }
    digest_field(format!("{p}.digest"), &e.digest, out);
    commit_field(format!("{p}.sourceCommit"), &e.source_commit, out);
    status_rules(p, e, out);
    timestamps(p, e, out);
}

/// What an entry's image status asks of its tag, reusedFrom and fingerprint.
fn status_rules(p: &str, e: &EntryText, out: &mut Findings) {
    match e.image_status() {
                // publish tags a built image with the commit it was built from, and a
                // published entry is that run's own (src/model/publish.rs to_entry).
                EntryStatus::Published
                    if Commit::is_valid(&e.tag) && e.tag != e.source_commit =>
                {
                    out.add(
                        format!("{p}.tag"),
                        "tag-is-source-commit",
                        "a published image's tag is the source commit of its own entry; an image built elsewhere would run under this commit's name".into(),
                    )
                }
                EntryStatus::Reused
                    if Commit::is_valid(&e.tag)
                        && e.reused_from.as_deref().is_some_and(|r| r != e.tag) =>
                {
                    out.add(
                        format!("{p}.reusedFrom"),
                        "reused-from",
                        "a reused entry's reusedFrom is its tag, the commit its image was built from".into(),
                    )
                }
                _ => {}
            }
    match e.image_status() {
        EntryStatus::Published | EntryStatus::Reused => {
            if !Commit::is_valid(&e.tag) {
                out.add(
                    format!("{p}.tag"),
                    "commit-tag",
                    "a built image's tag must be the full 40-hex source commit".into(),
                );
            }
            if e.fingerprint
                .as_deref()
                .is_none_or(|x| !Digest::is_valid(x))
            {
                out.add(
                    format!("{p}.fingerprint"),
                    "fingerprint",
                    "a built image needs its build fingerprint (sha256:<64 hex>)".into(),
                );
            }
        }
        EntryStatus::Pinned | EntryStatus::RolledBack => {
            if !rules::is_image_tag(&e.tag) {
                out.add(
                    format!("{p}.tag"),
                    "image-tag",
                    "must be a valid image tag".into(),
                );
            }
        }
    }
    match (e.image_status(), &e.reused_from) {
        (EntryStatus::Reused, Some(c)) if Commit::is_valid(c) => {}
        (EntryStatus::Reused, _) => out.add(
            format!("{p}.reusedFrom"),
            "reused-from",
            "a reused entry must name the 40-hex commit its image was built from".into(),
        ),
        (_, Some(_)) => out.add(
            format!("{p}.reusedFrom"),
            "reused-from",
            "only reused entries carry reusedFrom".into(),
        ),
        _ => {}
    }
}

/// publishedAt and updatedAt: RFC 3339 UTC, in order.
fn timestamps(p: &str, e: &EntryText, out: &mut Findings) {
    for (field, v) in [
        ("publishedAt", &e.published_at),
        ("updatedAt", &e.updated_at),
    ] {
        if !rules::is_timestamp(v) {
            out.add(
                format!("{p}.{field}"),
                "timestamp",
                "must be RFC 3339 UTC like 2026-01-02T03:04:05Z".into(),
            );
        }
    }
    if let (Some(a), Some(b)) = (
        rules::timestamp_key(&e.published_at),
        rules::timestamp_key(&e.updated_at),
    ) {
        if a > b {
            out.add(
                format!("{p}.publishedAt"),
                "timestamp-order",
                "an entry cannot be published after it last changed (publishedAt > updatedAt)"
                    .into(),
            );
        }
    }
}

/// Rules shared by the lane's and the entries' rollback records.
fn rollback_common(
    out: &mut Findings,
    p: &str,
    requested_by: &str,
    at: &str,
    reason: &Option<String>,
) {
    if let Some(why) = rollback_text_problem(requested_by) {
        out.add(format!("{p}.requestedBy"), "rollback-text", why.into());
    }
    if let Some(why) = reason.as_deref().and_then(rollback_text_problem) {
        out.add(format!("{p}.reason"), "rollback-text", why.into());
    }
    if !rules::is_timestamp(at) {
        out.add(
            format!("{p}.at"),
            "timestamp",
            "must be RFC 3339 UTC like 2026-01-02T03:04:05Z".into(),
        );
    }
}

/// Reject a catalog that belongs to another lane (docs/architecture.md, "Lane names": lanes
/// never share).
fn lane_rules(cat: &CatalogText, names: &LaneNames, out: &mut Findings) {
    // The same repository written with or without a trailing `.git` or `/` is the same.
    let repo = |s: &str| s.trim_end_matches('/').trim_end_matches(".git").to_string();
    let (got_repo, want_repo) = (repo(&cat.source_repo), repo(&names.source_repo));
    for (path, got, want) in [
        ("$.lane", cat.lane.as_str(), names.version.as_str()),
        ("$.sourceRepo", &got_repo, &want_repo),
        (
            "$.sourceBranch",
            &cat.source_branch,
            names.source_branch.as_str(),
        ),
        (
            "$.gitopsBranch",
            &cat.gitops_branch,
            names.gitops_branch.as_str(),
        ),
    ] {
        if got != want {
            out.add(
                path.into(),
                "lane-mismatch",
                format!(
                    "catalog belongs to '{got}' but this lane expects '{want}'; a lane never reads another lane's catalog"
                ),
            );
        }
    }
}

/// Formats of what the catalog refers to: repository, branches, image repositories, media
/// types, platforms, PipelineRun names.
fn format_rules(cat: &CatalogText, out: &mut Findings) {
    let mut f =
        |path: String, rule: &'static str, message: &str| out.add(path, rule, message.into());
    if let Err(e) = crate::git::remote::Remote::parse(&cat.source_repo) {
        f("$.sourceRepo".into(), "repo-url", &e.to_string());
    }
    for (p, v) in [
        ("$.sourceBranch", &cat.source_branch),
        ("$.gitopsBranch", &cat.gitops_branch),
    ] {
        if !rules::is_branch_name(v) {
            f(p.into(), "branch-name", "must be a valid git branch name");
        }
    }
    if cat.services.len() > 1000 {
        f(
            "$.services".into(),
            "too-many",
            "at most 1000 services per lane (the catalog schema's limit)",
        );
    }
    for (id, e) in &cat.services {
        let p = key_path("$.services", id);
        if e.platforms.len() > 64 {
            f(
                format!("{p}.platforms"),
                "too-many",
                "at most 64 platforms per image",
            );
        }
        if !rules::is_qualified_repository(&e.image_repository) {
            f(
                format!("{p}.imageRepository"),
                "image-repository",
                "must be host[:port]/path of at most 255 characters, e.g. 127.0.0.1:5000/agentrun/agentrun-mgr",
            );
        }
        if e.media_type
            .as_deref()
            .is_some_and(|m| !rules::is_media_type(m))
        {
            f(
                format!("{p}.mediaType"),
                "media-type",
                "must be a lowercase type/subtype like application/vnd.oci.image.manifest.v1+json",
            );
        }
        for (i, pl) in e.platforms.iter().enumerate() {
            if !rules::is_platform(pl) {
                f(
                    format!("{p}.platforms[{i}]"),
                    "platform",
                    "must be os/arch[/variant], e.g. linux/amd64",
                );
            }
        }
        if e.pipeline_run
            .as_deref()
            .is_some_and(|r| !rules::is_dns1123_label(r))
        {
            f(
                format!("{p}.pipelineRun"),
                "dns1123-label",
                "a PipelineRun name is a DNS-1123 label",
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::*;
    use crate::model::catalog::{ComponentIdentity, EntryFrom, EntryRestores, EntryRollback};
    use std::collections::BTreeMap;

    fn rolled_back() -> EntryText {
        let c = "a".repeat(40);
        EntryText {
            component: ComponentIdentity {
                service: "mgr".into(),
                kind: crate::model::intent::ComponentKind::Deployment,
            },
            image_repository: "127.0.0.1:5000/agentrun/mgr".into(),
            tag: c.clone(),
            digest: format!("sha256:{}", "1".repeat(64)),
            media_type: None,
            platforms: vec![],
            status: EntryStatus::RolledBack,
            source_commit: c.clone(),
            reused_from: None,
            fingerprint: Some(format!("sha256:{}", "f".repeat(64))),
            pipeline_run: None,
            published_at: "2026-01-01T00:00:00Z".into(),
            updated_at: "2026-01-02T00:00:00Z".into(),
            rollback: Some(EntryRollback {
                from: EntryFrom {
                    digest: format!("sha256:{}", "2".repeat(64)),
                    source_commit: "b".repeat(40),
                    gitops_commit: "e".repeat(40),
                },
                restores: EntryRestores {
                    status: EntryStatus::Published,
                    source_commit: c,
                    gitops_commit: "d".repeat(40),
                },
                requested_by: "ops".into(),
                at: "2026-01-02T00:00:00Z".into(),
                reason: None,
            }),
        }
    }

    fn rules_of(e: EntryText) -> Vec<&'static str> {
        let mut c = CatalogText {
            schema_version: 1,
            lane: "v0.1".into(),
            source_repo: "r".into(),
            source_branch: "v0.1".into(),
            gitops_branch: "v0.1-gitops".into(),
            source_commit: "a".repeat(40),
            updated_at: "2026-01-02T00:00:00Z".into(),
            services: BTreeMap::new(),
            rollback: None,
        };
        c.services.insert("mgr".into(), e);
        record_rules(&c)
            .into_iter()
            .map(|f| crate::model::check::test_support::rule_str(f.rule))
            .collect()
    }

    #[test]
    fn rolled_back_entries_carry_their_record_and_keep_the_restored_rules() {
        assert!(rules_of(rolled_back()).is_empty());
        assert_eq!(rolled_back().image_status(), EntryStatus::Published);
        assert_eq!(*rolled_back().newest_commit(), "b".repeat(40));

        let mut e = rolled_back();
        e.rollback = None;
        assert_eq!(rules_of(e), ["rollback-record"]);
        let mut e = rolled_back();
        e.status = EntryStatus::Published;
        assert_eq!(rules_of(e), ["rollback-record"]);
        // The restored entry was published: its tag rules still apply.
        let mut e = rolled_back();
        e.tag = "1.36".into();
        assert!(rules_of(e).contains(&"commit-tag"));
        let mut e = rolled_back();
        e.rollback.as_mut().unwrap().requested_by = "a\nLane-Rollback: forged".into();
        assert_eq!(rules_of(e), ["rollback-text"]);
        let mut e = rolled_back();
        e.rollback.as_mut().unwrap().from.digest = "sha256:x".into();
        assert_eq!(rules_of(e), ["digest"]);
        let mut e = rolled_back();
        e.rollback.as_mut().unwrap().restores.status = EntryStatus::RolledBack;
        assert!(rules_of(e).contains(&"rollback-record"));
        let serialized = serde_json::to_value(rolled_back()).unwrap();
        assert_eq!(serialized["status"], "rolled-back");
    }

    #[test]
    fn catalog_fields_and_paths() {
        assert!(catalog_findings(&good_catalog()).is_empty());
        let mut c = good_catalog();
        let e = &mut c["services"]["agentrun-mgr"];
        e["imageRepository"] = json_str("agentrun-mgr");
        e["mediaType"] = json_str("JSON");
        e["platforms"] = serde_json::json!(["linux"]);
        e["pipelineRun"] = json_str("Run_1");
        e["digest"] = json_str("sha256:abc");
        c["gitopsBranch"] = json_str("a..b");
        let f = catalog_findings(&c);
        let p = "$.services['agentrun-mgr']";
        for (path, rule) in [
            (format!("{p}.imageRepository"), "image-repository"),
            (format!("{p}.mediaType"), "media-type"),
            (format!("{p}.platforms[0]"), "platform"),
            (format!("{p}.pipelineRun"), "dns1123-label"),
            (format!("{p}.digest"), "digest"),
            ("$.gitopsBranch".to_string(), "branch-name"),
        ] {
            assert!(has(&f, &path, rule), "{path} {rule}: {f:?}");
        }
    }
}
