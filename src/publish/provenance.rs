//! Provenance: the image config labels the build step stamps (docs/labels.md) must name the
//! service and the source commit this run is publishing. This catches a stale or hand-pushed
//! tag before its digest reaches the catalog.

use serde_json::Value;

use crate::model::labels;

/// Who an image claims to be, read from its config labels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claimed {
    pub service: Option<String>,
    pub revision: Option<String>,
    pub source: Option<String>,
}

/// Who it must be.
#[derive(Debug, Clone)]
pub struct Expected<'a> {
    pub service: &'a str,
    pub commit: &'a str,
    pub source_repo: &'a str,
}

/// Read the labels of an image config blob (`config.Labels`, Docker and OCI alike).
pub fn claimed(config: &[u8]) -> Result<Claimed, String> {
    let v: Value =
        serde_json::from_slice(config).map_err(|e| format!("image config is not JSON: {e}"))?;
    let l = &v["config"]["Labels"];
    let get = |k: &str| l[k].as_str().map(str::to_string);
    Ok(Claimed {
        service: get(labels::OCI_SERVICE),
        revision: get(labels::OCI_REVISION),
        source: get(labels::OCI_SOURCE),
    })
}

/// `None` when the claim matches; otherwise what differs, in words naming both sides.
pub fn mismatch(claim: &Claimed, want: &Expected<'_>) -> Option<String> {
    let show = |o: &Option<String>| o.clone().unwrap_or_else(|| "(label missing)".into());
    let service_ok = claim.service.as_deref() == Some(want.service);
    let commit_ok = claim.revision.as_deref() == Some(want.commit);
    let source_ok = claim
        .source
        .as_deref()
        .is_some_and(|s| same_repo(s, want.source_repo));
    if service_ok && commit_ok && source_ok {
        return None;
    }
    let mut s = format!(
        "expected an image of service {} at commit {}, but the tag points at an image of service {} at commit {}",
        want.service,
        want.commit,
        show(&claim.service),
        show(&claim.revision)
    );
    if !source_ok {
        s.push_str(&format!(
            " from source {} (expected {})",
            show(&claim.source),
            want.source_repo
        ));
    }
    s.push_str(&format!(
        " (labels {}, {}, {})",
        labels::OCI_SERVICE,
        labels::OCI_REVISION,
        labels::OCI_SOURCE
    ));
    Some(s)
}

/// Same repository, ignoring a trailing `.git` or `/` (buildah users often drop `.git`).
fn same_repo(a: &str, b: &str) -> bool {
    let n = |s: &str| s.trim_end_matches('/').trim_end_matches(".git").to_string();
    n(a) == n(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(service: &str, rev: &str) -> Vec<u8> {
        serde_json::json!({"config": {"Labels": {
            "dev.lane.service": service,
            "org.opencontainers.image.revision": rev,
            "org.opencontainers.image.source": "git@h:o/r.git"
        }}})
        .to_string()
        .into_bytes()
    }

    #[test]
    fn matches_and_names_both_sides() {
        let want = Expected {
            service: "mgr",
            commit: "aaaa",
            source_repo: "git@h:o/r",
        };
        assert_eq!(
            mismatch(&claimed(&cfg("mgr", "aaaa")).unwrap(), &want),
            None
        );
        let m = mismatch(&claimed(&cfg("web", "bbbb")).unwrap(), &want).unwrap();
        assert!(m.contains("service mgr at commit aaaa"), "{m}");
        assert!(m.contains("service web at commit bbbb"), "{m}");
        let m = mismatch(&claimed(b"{}").unwrap(), &want).unwrap();
        assert!(m.contains("(label missing)"), "{m}");
    }
}
