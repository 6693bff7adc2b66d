//! The artifact catalog (docs/architecture.md, "Artifact identity"): machine-written, lives only on
//! the GitOps branch at `names.catalog_path`. One entry per service records the image that the lane
//! runs.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::names::LaneNames;
use super::rules;

pub const CATALOG_SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Catalog {
    pub schema_version: u32,
    /// Lane version (`v0.1`).
    pub lane: String,
    pub source_repo: String,
    pub source_branch: String,
    pub gitops_branch: String,
    /// The newest source commit promoted into this catalog (40 hex).
    pub source_commit: String,
    /// RFC 3339 UTC; changes only when an entry changes, so that an unchanged promote is a noop.
    pub updated_at: String,
    /// Entries by service id (sorted, so the file is deterministic).
    pub services: BTreeMap<String, CatalogEntry>,
    /// Present while the lane's deploy intent is a deliberately restored earlier one
    /// (`lane rollback` of the whole lane); the next release of a newer source commit
    /// removes it (docs/rollback.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback: Option<Box<LaneRollback>>,
}

/// A whole-lane rollback: the release it restores and the one it replaced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LaneRollback {
    /// What the lane ran before. `sourceCommit` is the newest source commit released until
    /// then: a run of it, or of an older commit, is superseded until a newer one rolls forward.
    pub from: ReleaseRef,
    /// The earlier release restored: its GitOps commit and the source commit of its intent.
    pub restores: ReleaseRef,
    /// Who asked (`--requested-by`).
    pub requested_by: String,
    /// When (RFC 3339 UTC).
    pub at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// A release of the lane: a GitOps commit and the source commit its catalog records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReleaseRef {
    pub source_commit: String,
    pub gitops_commit: String,
}

/// A service rolled back to an earlier catalog entry (status `rolled-back`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EntryRollback {
    /// What the service ran before.
    pub from: EntryFrom,
    /// The earlier entry restored: its status then, its source commit, and the GitOps commit
    /// whose catalog held it.
    pub restores: EntryRestores,
    /// Who asked (`--requested-by`).
    pub requested_by: String,
    /// When (RFC 3339 UTC).
    pub at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EntryFrom {
    /// The digest the service ran before the rollback.
    pub digest: String,
    /// The newest source commit released for the service until then: a run of it, or of an
    /// older commit, is superseded until a newer one rolls forward.
    pub source_commit: String,
    /// The GitOps commit the rollback replaced.
    pub gitops_commit: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EntryRestores {
    /// `published`, `reused` or `pinned`: the restored entry's status.
    pub status: EntryStatus,
    pub source_commit: String,
    pub gitops_commit: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CatalogEntry {
    /// Component identity: service id and kind.
    pub component: ComponentIdentity,
    /// Full image repository including the registry host.
    pub image_repository: String,
    /// Built images: the 40-hex source commit the image was built from. Upstream images:
    /// the upstream tag.
    pub tag: String,
    /// `sha256:` + 64 hex: the schema2/OCI manifest (or index) digest containerd pulls.
    pub digest: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub platforms: Vec<String>,
    pub status: EntryStatus,
    /// The source commit of the run that last confirmed this entry (40 hex).
    pub source_commit: String,
    /// For `reused`: the commit the image was built from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reused_from: Option<String>,
    /// Build fingerprint (see docs/fingerprint.md); absent for upstream images.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
    /// PipelineRun that produced this entry, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pipeline_run: Option<String>,
    /// When the image was first published (RFC 3339 UTC).
    pub published_at: String,
    /// When the entry last changed (RFC 3339 UTC).
    pub updated_at: String,
    /// For `rolled-back`: what was rolled back from and to, and who asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback: Option<EntryRollback>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ComponentIdentity {
    pub service: String,
    pub kind: super::intent::ComponentKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum EntryStatus {
    /// Built and pushed by this lane for `tag`.
    Published,
    /// Build inputs unchanged; the image of `reused_from` is kept.
    Reused,
    /// Image-only upstream service, pinned by digest.
    Pinned,
    /// Deliberately returned to an earlier entry by `lane rollback` (see `rollback`).
    #[serde(rename = "rolled-back")]
    RolledBack,
}

impl EntryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            EntryStatus::Published => "published",
            EntryStatus::Reused => "reused",
            EntryStatus::Pinned => "pinned",
            EntryStatus::RolledBack => "rolled-back",
        }
    }
}

impl CatalogEntry {
    /// `<repository>@<digest>`: the only form manifests may use.
    pub fn pinned_image(&self) -> String {
        format!("{}@{}", self.image_repository, self.digest)
    }

    /// The status that describes the image: a rolled-back entry's is the restored entry's
    /// (`published`, `reused` or `pinned`).
    pub fn image_status(&self) -> EntryStatus {
        match (&self.status, &self.rollback) {
            (EntryStatus::RolledBack, Some(r)) => r.restores.status,
            (s, _) => *s,
        }
    }

    /// The newest source commit released for this service: for a rolled-back entry the one it
    /// was rolled back from, else its own. A run of this commit or an older one is superseded.
    pub fn newest_commit(&self) -> &str {
        match &self.rollback {
            Some(r) => &r.from.source_commit,
            None => &self.source_commit,
        }
    }
}

/// Longest `requestedBy` and `reason` of a rollback record.
pub const ROLLBACK_TEXT_MAX: usize = 256;

/// `requestedBy`/`reason`: one printable line, bounded (they also go into commit trailers).
pub fn rollback_text_problem(s: &str) -> Option<&'static str> {
    if s.trim().is_empty() {
        Some("must not be empty")
    } else if s.chars().count() > ROLLBACK_TEXT_MAX {
        Some("must be at most 256 characters")
    } else if s.chars().any(char::is_control) {
        Some("must be one line without control characters")
    } else {
        None
    }
}

/// Rules shared by the lane's and the entries' rollback records.
fn rollback_common(
    f: &mut impl FnMut(String, &'static str, String),
    p: &str,
    requested_by: &str,
    at: &str,
    reason: &Option<String>,
) {
    if let Some(why) = rollback_text_problem(requested_by) {
        f(format!("{p}.requestedBy"), "rollback-text", why.into());
    }
    if let Some(why) = reason.as_deref().and_then(rollback_text_problem) {
        f(format!("{p}.reason"), "rollback-text", why.into());
    }
    if !rules::is_timestamp(at) {
        f(
            format!("{p}.at"),
            "timestamp",
            "must be RFC 3339 UTC like 2026-01-02T03:04:05Z".into(),
        );
    }
}

/// A catalog problem, with the JSON path and the rule it broke.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CatalogFinding {
    pub path: String,
    pub rule: &'static str,
    pub message: String,
}

impl Catalog {
    /// An empty catalog for lane initialisation.
    pub fn empty(names: &LaneNames, source_commit: &str, now: &str) -> Catalog {
        Catalog {
            schema_version: CATALOG_SCHEMA_VERSION,
            lane: names.version.clone(),
            source_repo: names.source_repo.clone(),
            source_branch: names.source_branch.clone(),
            gitops_branch: names.gitops_branch.clone(),
            source_commit: source_commit.to_string(),
            updated_at: now.to_string(),
            services: BTreeMap::new(),
            rollback: None,
        }
    }

    /// Field rules serde cannot express: formats of commits, digests, names, timestamps.
    pub fn check(&self) -> Vec<CatalogFinding> {
        let mut out = Vec::new();
        let mut f = |path: String, rule: &'static str, message: String| {
            out.push(CatalogFinding {
                path,
                rule,
                message,
            })
        };
        if self.schema_version != CATALOG_SCHEMA_VERSION {
            f(
                "$.schemaVersion".into(),
                "schema-version",
                format!(
                    "catalog schemaVersion {} is not supported; supported: {}",
                    self.schema_version, CATALOG_SCHEMA_VERSION
                ),
            );
        }
        if !rules::is_lane_version(&self.lane) {
            f(
                "$.lane".into(),
                "lane-version",
                "must look like v<major>.<minor>, e.g. v0.1".into(),
            );
        }
        if !rules::is_commit(&self.source_commit) {
            f(
                "$.sourceCommit".into(),
                "commit-sha",
                "must be a full 40-character lowercase hex commit".into(),
            );
        }
        if !rules::is_timestamp(&self.updated_at) {
            f(
                "$.updatedAt".into(),
                "timestamp",
                "must be RFC 3339 UTC like 2026-01-02T03:04:05Z".into(),
            );
        }
        if let Some(r) = &self.rollback {
            for (path, v) in [
                ("from.sourceCommit", &r.from.source_commit),
                ("from.gitopsCommit", &r.from.gitops_commit),
                ("restores.sourceCommit", &r.restores.source_commit),
                ("restores.gitopsCommit", &r.restores.gitops_commit),
            ] {
                if !rules::is_commit(v) {
                    f(
                        format!("$.rollback.{path}"),
                        "commit-sha",
                        "must be a full 40-character lowercase hex commit".into(),
                    );
                }
            }
            if r.restores.source_commit != self.source_commit {
                f(
                    "$.rollback.restores.sourceCommit".into(),
                    "rollback-intent",
                    "a rolled-back lane's sourceCommit is the restored release's".into(),
                );
            }
            rollback_common(&mut f, "$.rollback", &r.requested_by, &r.at, &r.reason);
        }
        for (id, e) in &self.services {
            let p = format!("$.services.{id}");
            match (&e.status, &e.rollback) {
                (EntryStatus::RolledBack, None) => f(
                    format!("{p}.rollback"),
                    "rollback-record",
                    "a rolled-back entry records what it was rolled back from and to".into(),
                ),
                (EntryStatus::RolledBack, Some(r)) => {
                    if r.restores.status == EntryStatus::RolledBack {
                        f(
                            format!("{p}.rollback.restores.status"),
                            "rollback-record",
                            "the restored status is published, reused or pinned".into(),
                        );
                    }
                    if !rules::is_digest(&r.from.digest) {
                        f(
                            format!("{p}.rollback.from.digest"),
                            "digest",
                            "must be sha256: followed by 64 lowercase hex".into(),
                        );
                    }
                    for (path, v) in [
                        ("from.sourceCommit", &r.from.source_commit),
                        ("from.gitopsCommit", &r.from.gitops_commit),
                        ("restores.sourceCommit", &r.restores.source_commit),
                        ("restores.gitopsCommit", &r.restores.gitops_commit),
                    ] {
                        if !rules::is_commit(v) {
                            f(
                                format!("{p}.rollback.{path}"),
                                "commit-sha",
                                "must be a full 40-character lowercase hex commit".into(),
                            );
                        }
                    }
                    if r.restores.source_commit != e.source_commit {
                        f(
                            format!("{p}.rollback.restores.sourceCommit"),
                            "rollback-record",
                            "a rolled-back entry keeps the restored entry's sourceCommit".into(),
                        );
                    }
                    rollback_common(
                        &mut f,
                        &format!("{p}.rollback"),
                        &r.requested_by,
                        &r.at,
                        &r.reason,
                    );
                }
                (_, Some(_)) => f(
                    format!("{p}.rollback"),
                    "rollback-record",
                    "only rolled-back entries carry a rollback record".into(),
                ),
                _ => {}
            }
            if !rules::is_dns1123_label(id) {
                f(
                    p.clone(),
                    "dns1123-label",
                    "service id must be a DNS-1123 label".into(),
                );
            }
            if &e.component.service != id {
                f(
                    format!("{p}.component.service"),
                    "entry-key",
                    format!(
                        "entry is keyed '{id}' but names service '{}'",
                        e.component.service
                    ),
                );
            }
            if !rules::is_digest(&e.digest) {
                f(
                    format!("{p}.digest"),
                    "digest",
                    "must be sha256: followed by 64 lowercase hex".into(),
                );
            }
            if !rules::is_commit(&e.source_commit) {
                f(
                    format!("{p}.sourceCommit"),
                    "commit-sha",
                    "must be a full 40-character lowercase hex commit".into(),
                );
            }
            match e.image_status() {
                // publish tags a built image with the commit it was built from, and a
                // published entry is that run's own (src/model/publish.rs to_entry).
                EntryStatus::Published
                    if rules::is_commit(&e.tag) && e.tag != e.source_commit =>
                {
                    f(
                        format!("{p}.tag"),
                        "tag-is-source-commit",
                        "a published image's tag is the source commit of its own entry; an image built elsewhere would run under this commit's name".into(),
                    )
                }
                EntryStatus::Reused
                    if rules::is_commit(&e.tag)
                        && e.reused_from.as_deref().is_some_and(|r| r != e.tag) =>
                {
                    f(
                        format!("{p}.reusedFrom"),
                        "reused-from",
                        "a reused entry's reusedFrom is its tag, the commit its image was built from".into(),
                    )
                }
                _ => {}
            }
            match e.image_status() {
                EntryStatus::Published | EntryStatus::Reused => {
                    if !rules::is_commit(&e.tag) {
                        f(
                            format!("{p}.tag"),
                            "commit-tag",
                            "a built image's tag must be the full 40-hex source commit".into(),
                        );
                    }
                    if e.fingerprint
                        .as_deref()
                        .is_none_or(|x| !rules::is_digest(x))
                    {
                        f(
                            format!("{p}.fingerprint"),
                            "fingerprint",
                            "a built image needs its build fingerprint (sha256:<64 hex>)".into(),
                        );
                    }
                }
                EntryStatus::Pinned | EntryStatus::RolledBack => {
                    if !rules::is_image_tag(&e.tag) {
                        f(
                            format!("{p}.tag"),
                            "image-tag",
                            "must be a valid image tag".into(),
                        );
                    }
                }
            }
            match (e.image_status(), &e.reused_from) {
                (EntryStatus::Reused, Some(c)) if rules::is_commit(c) => {}
                (EntryStatus::Reused, _) => f(
                    format!("{p}.reusedFrom"),
                    "reused-from",
                    "a reused entry must name the 40-hex commit its image was built from".into(),
                ),
                (_, Some(_)) => f(
                    format!("{p}.reusedFrom"),
                    "reused-from",
                    "only reused entries carry reusedFrom".into(),
                ),
                _ => {}
            }
            for (field, v) in [
                ("publishedAt", &e.published_at),
                ("updatedAt", &e.updated_at),
            ] {
                if !rules::is_timestamp(v) {
                    f(
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
                    f(
                        format!("{p}.publishedAt"),
                        "timestamp-order",
                        "an entry cannot be published after it last changed (publishedAt > updatedAt)".into(),
                    );
                }
            }
        }
        out
    }

    /// The newest source commit released to the lane: the one a whole-lane rollback was
    /// rolled back from, else `sourceCommit`.
    pub fn newest_commit(&self) -> &str {
        match &self.rollback {
            Some(r) => &r.from.source_commit,
            None => &self.source_commit,
        }
    }

    /// Reject a catalog that belongs to another lane (docs/architecture.md, "Lane names": lanes
    /// never share).
    pub fn check_lane(&self, names: &LaneNames) -> Vec<CatalogFinding> {
        let mut out = Vec::new();
        // The same repository written with or without a trailing `.git` or `/` is the same.
        let repo = |s: &str| s.trim_end_matches('/').trim_end_matches(".git").to_string();
        let (got_repo, want_repo) = (repo(&self.source_repo), repo(&names.source_repo));
        for (path, got, want) in [
            ("$.lane", &self.lane, &names.version),
            ("$.sourceRepo", &got_repo, &want_repo),
            ("$.sourceBranch", &self.source_branch, &names.source_branch),
            ("$.gitopsBranch", &self.gitops_branch, &names.gitops_branch),
        ] {
            if got != want {
                out.push(CatalogFinding {
                    path: path.into(),
                    rule: "lane-mismatch",
                    message: format!(
                        "catalog belongs to '{got}' but this lane expects '{want}'; a lane never reads another lane's catalog"
                    ),
                });
            }
        }
        out
    }

    /// Deterministic JSON: 2-space indent, keys in struct/BTreeMap order, trailing newline.
    pub fn to_json_pretty(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).expect("catalog serializes");
        s.push('\n');
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rolled_back() -> CatalogEntry {
        let c = "a".repeat(40);
        CatalogEntry {
            component: ComponentIdentity {
                service: "mgr".into(),
                kind: super::super::intent::ComponentKind::Deployment,
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

    fn rules_of(e: CatalogEntry) -> Vec<&'static str> {
        let mut c = Catalog {
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
        c.check().into_iter().map(|f| f.rule).collect()
    }

    #[test]
    fn rolled_back_entries_carry_their_record_and_keep_the_restored_rules() {
        assert!(rules_of(rolled_back()).is_empty());
        assert_eq!(rolled_back().image_status(), EntryStatus::Published);
        assert_eq!(rolled_back().newest_commit(), "b".repeat(40));

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
}
