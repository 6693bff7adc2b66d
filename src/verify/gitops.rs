//! Group 3, the GitOps branch: the catalog belongs to the lane, every image is pinned by the
//! catalog's digest, no Secret or secret value is in the tree, and the tree is exactly what
//! `render` makes of deploy.json at the catalog's source commit (no hand edits).

use std::collections::BTreeSet;

use serde_json::{json, Value};

use super::tree::{self, Tree};
use super::{CatalogProblem, Check, Evidence, Group};
use crate::model::at_commit::deploy_file_at;
use crate::model::{secrets, Catalog, Lane, LaneAtError};

const G: Group = Group::Gitops;

pub fn run(ctx: &Evidence) -> Vec<Check> {
    let mut out = vec![catalog_check(ctx)];
    let Some(cat) = ctx.catalog() else {
        for id in ["gitops.pinned", "gitops.no-secrets", "gitops.drift"] {
            out.push(Check::skip(G, id, "no usable catalog on the GitOps branch"));
        }
        return out;
    };
    if ctx.tree.is_empty() {
        out.push(Check::fail(
            G,
            "gitops.pinned",
            format!(
                "the GitOps branch has no runtime tree at {}",
                ctx.lane.names.runtime_path
            ),
            json!({"runtimePath": ctx.lane.names.runtime_path}),
            "run `lane promote` for the source commit; Argo CD syncs this path",
        ));
    } else {
        out.push(pinned_check(&ctx.tree, cat));
    }
    out.push(secrets_check(&ctx.tree));
    out.push(drift_check(ctx, cat));
    out
}

fn catalog_check(ctx: &Evidence) -> Check {
    let n = &ctx.lane.names;
    let file = format!("{}:{}", n.gitops_branch, n.catalog_path);
    let cat = match &ctx.catalog {
        Ok(c) => c,
        Err(p) => {
            let mut ev = json!({"catalog": file});
            if let CatalogProblem::Invalid { findings, .. } = p {
                ev["findings"] = json!(findings);
            }
            return Check::fail(
                G,
                "gitops.catalog",
                p.describe(&n.gitops_branch, &n.catalog_path),
                ev,
                match p {
                    CatalogProblem::Invalid { .. } => "the catalog is written only by `lane promote` of this lane; restore it from the last good GitOps commit and re-run the pipeline",
                    _ => "initialise the lane (`lane promote --init`) and run the pipeline; nothing falls back to another branch or lane",
                },
            );
        }
    };
    let mut problems = Vec::new();
    // A whole-lane rollback is the intended release of the commit it was rolled back from
    // (and of the commit it restores): docs/rollback.md.
    let rolled_back_from = cat
        .rollback
        .as_ref()
        .is_some_and(|r| r.from.source_commit == ctx.commit);
    if cat.source_commit != ctx.commit && !rolled_back_from {
        problems.push(format!(
            "the catalog is at source commit {} but the verified commit is {}",
            cat.source_commit, ctx.commit
        ));
    }
    let missing: Vec<&str> = ctx
        .lane
        .intent()
        .enabled_services()
        .filter(|s| !cat.services.contains_key(s.id.as_str()))
        .map(|s| s.id.as_str())
        .collect();
    if !missing.is_empty() {
        problems.push(format!(
            "services of the lane without a catalog entry: {}",
            missing.join(", ")
        ));
    }
    let mut ok = format!(
        "catalog of lane {} at source commit {}",
        cat.lane, cat.source_commit
    );
    if let Some(r) = &cat.rollback {
        ok.push_str(&format!(
            ", rolled back from {} (GitOps {}) by {}",
            r.from.source_commit,
            &r.from.gitops_commit[..12.min(r.from.gitops_commit.len())],
            r.requested_by
        ));
    }
    let rolled: Vec<&str> = cat
        .services
        .iter()
        .filter(|(_, e)| e.rollback.is_some())
        .map(|(id, _)| id.as_str())
        .collect();
    if !rolled.is_empty() {
        ok.push_str(&format!("; rolled back: {}", rolled.join(", ")));
    }
    Check::judge(
        G,
        "gitops.catalog",
        ok,
        problems,
        json!({
            "catalog": file,
            "gitopsCommit": ctx.gitops_head.as_ref().map(|h| h.commit.clone()),
            "lane": cat.lane,
            "sourceBranch": cat.source_branch,
            "gitopsBranch": cat.gitops_branch,
            "sourceCommit": cat.source_commit,
            "verifiedCommit": ctx.commit,
            "services": cat.services.iter().map(|(id, e)| {
                let mut v = json!({
                    "image": e.pinned_image(), "tag": e.tag, "status": e.status.as_str(),
                    "sourceCommit": e.source_commit,
                });
                if let Some(r) = &e.rollback {
                    v["rollback"] = json!(r);
                }
                (id.clone(), v)
            }).collect::<serde_json::Map<_, _>>(),
            "rollback": cat.rollback,
        }),
        "promote the verified commit (the pipeline's promote step), or pass --commit with the commit the GitOps branch holds",
    )
}

fn pinned_check(tree: &Tree, cat: &Catalog) -> Check {
    let pinned: BTreeSet<String> = cat
        .services
        .values()
        .map(|e| e.pinned_image().to_string())
        .collect();
    let mut problems = Vec::new();
    let mut seen = Vec::new();
    for o in &tree.objects {
        for (ptr, image) in tree::images(&o.value) {
            let at = format!("{} {}/{} {}", o.file, o.kind(), o.name(), ptr);
            seen.push(json!({"file": o.file, "object": format!("{}/{}", o.kind(), o.name()), "image": image}));
            if tree::split_pinned(&image).is_none() {
                problems.push(format!(
                    "{at}: '{image}' is not pinned by digest (@sha256:…)"
                ));
                continue;
            }
            let want = o
                .service()
                .and_then(|s| cat.services.get(s))
                .map(|e| e.pinned_image());
            match want {
                Some(w) if w == image => {}
                Some(w) => {
                    problems.push(format!("{at}: '{image}' differs from the catalog's '{w}'"))
                }
                None if pinned.contains(&image) => {}
                None => problems.push(format!("{at}: '{image}' is not an image of the catalog")),
            }
        }
    }
    for (file, why) in &tree.unparsed {
        problems.push(format!("{file}: not a YAML/JSON manifest: {why}"));
    }
    if seen.is_empty() && problems.is_empty() {
        problems.push("the runtime tree has no container image at all".into());
    }
    Check::judge(
        G,
        "gitops.pinned",
        format!("{} image reference(s), all pinned to the catalog's digests", seen.len()),
        problems,
        json!({"images": seen}),
        "never edit the GitOps branch by hand: re-run `lane promote`, which renders images as <repo>@<catalog digest>",
    )
}

fn secrets_check(tree: &Tree) -> Check {
    let mut problems = Vec::new();
    for o in &tree.objects {
        if o.kind() == "Secret" || o.kind() == "SealedSecret" {
            problems.push(format!(
                "{}: a {} object ({}) is in the tree; Secrets are created outside GitOps",
                o.file,
                o.kind(),
                o.name()
            ));
        }
    }
    for (file, text) in &tree.files {
        for (i, line) in text.lines().enumerate() {
            if let Some(kind) = secrets::classify(line) {
                problems.push(format!(
                    "{file}:{}: looks like {} ({})",
                    i + 1,
                    kind.describe(),
                    crate::redact::redacted(line.trim())
                ));
            }
        }
        // Multi-line values (PEM blocks, kubeconfigs) are only visible on the whole file.
        if let Some(kind) = secrets::classify(text) {
            let already = problems.iter().any(|p| p.starts_with(&format!("{file}:")));
            if !already {
                problems.push(format!("{file}: contains {}", kind.describe()));
            }
        }
    }
    Check::judge(
        G,
        "gitops.no-secrets",
        format!("{} file(s), no Secret object and no secret value", tree.files.len()),
        problems,
        json!({"files": tree.files.keys().collect::<Vec<_>>()}),
        "remove the value from the GitOps branch, rotate the credential, and reference it by SecretRef name/key in deploy.json",
    )
}

fn drift_check(ctx: &Evidence, cat: &Catalog) -> Check {
    let at = &cat.source_commit;
    let file = deploy_file_at(at);
    let lane = match Lane::at_commit(&ctx.repo, at) {
        Ok(l) => l,
        Err(LaneAtError::Missing { .. }) => {
            return Check::fail(
                G,
                "gitops.drift",
                format!("{file} does not exist"),
                json!({"deploy": file}),
                "the catalog's source commit must carry deploy.json",
            )
        }
        Err(LaneAtError::Read { source, .. }) => {
            return Check::fail(
                G,
                "gitops.drift",
                format!("cannot read {file}: {source}"),
                json!({"deploy": file}),
                "fetch the source branch into --repo so the catalog's source commit is present",
            )
        }
        Err(LaneAtError::Invalid(e)) => {
            return Check::fail(
                G,
                "gitops.drift",
                format!("deploy.json at the catalog's source commit is invalid: {e}"),
                json!({"deploy": file, "findings": e.findings()}),
                "fix deploy.json on the source branch and re-run the pipeline",
            )
        }
    };
    let rendered = match crate::render::render_tree(&lane, cat) {
        Ok(t) => t.files,
        Err(e) => {
            return Check::fail(
                G,
                "gitops.drift",
                format!("cannot render deploy.json at {at} with the catalog: {e}"),
                json!({"deploy": file}),
                "`lane render --deploy <deploy.json> --catalog <catalog>` shows the same error",
            )
        }
    };
    let (added, changed, removed) = diff(&ctx.tree, &rendered);
    let ev = json!({
        "deploy": file,
        "runtimePath": ctx.lane.names.runtime_path,
        "gitopsCommit": ctx.gitops_head.as_ref().map(|h| h.commit.clone()),
        "files": rendered.len(),
        "changed": changed,
        "onlyInBranch": added,
        "missingFromBranch": removed,
    });
    if added.is_empty() && changed.is_empty() && removed.is_empty() {
        Check::pass(
            G,
            "gitops.drift",
            format!(
                "the runtime tree equals a fresh render ({} files)",
                rendered.len()
            ),
            ev,
        )
    } else {
        let mut parts = Vec::new();
        if !changed.is_empty() {
            parts.push(format!("changed: {}", changed.join(", ")));
        }
        if !added.is_empty() {
            parts.push(format!("only on the branch: {}", added.join(", ")));
        }
        if !removed.is_empty() {
            parts.push(format!("missing from the branch: {}", removed.join(", ")));
        }
        Check::fail(
            G,
            "gitops.drift",
            format!("the runtime tree differs from a fresh render: {}", parts.join("; ")),
            ev,
            "the GitOps branch was edited outside `lane promote`: re-run promote for the source commit (it replaces the runtime tree whole)",
        )
    }
}

/// (files only in the branch, files that differ, files only in the render).
fn diff(
    tree: &Tree,
    rendered: &std::collections::BTreeMap<String, String>,
) -> (Vec<String>, Vec<String>, Vec<String>) {
    let mut added = Vec::new();
    let mut changed = Vec::new();
    let mut removed = Vec::new();
    for (f, text) in &tree.files {
        match rendered.get(f) {
            None => added.push(f.clone()),
            Some(r) if r != text => changed.push(f.clone()),
            Some(_) => {}
        }
    }
    for f in rendered.keys() {
        if !tree.files.contains_key(f) {
            removed.push(f.clone());
        }
    }
    (added, changed, removed)
}

/// Evidence helper shared with other groups: the catalog entry of a service as JSON.
pub fn entry_evidence(cat: &Catalog, service: &str) -> Value {
    cat.services
        .get(service)
        .map(|e| json!({"image": e.pinned_image(), "digest": e.digest, "tag": e.tag, "sourceCommit": e.source_commit}))
        .unwrap_or(Value::Null)
}

/// `gitops.signature` (with `--allowed-signers`): the GitOps tip is SSH-signed by a key the
/// allowed-signers file names for git (git's `gpg.ssh.allowedSignersFile`).
pub fn signature_check(ctx: &Evidence, allowed: &std::path::Path) -> Check {
    use crate::git::sign::{verify_commit, SignatureState};
    const ID: &str = "gitops.signature";
    let Some(head) = &ctx.gitops_head else {
        return Check::fail(
            G,
            ID,
            format!(
                "the GitOps branch {} does not exist: no commit to check",
                ctx.lane.names.gitops_branch
            ),
            json!({"allowedSigners": allowed.display().to_string()}),
            "promote the lane first (`lane promote --init --signing-key …`)",
        );
    };
    let c = &head.commit;
    let mut ev = json!({"gitopsCommit": c, "allowedSigners": allowed.display().to_string()});
    let state = match verify_commit(&ctx.repo, c, allowed) {
        Ok(s) => s,
        Err(e) => {
            return Check::fail(
                G,
                ID,
                format!("cannot check the signature of GitOps commit {c}: {e}"),
                ev,
                "pass --allowed-signers a readable file in git's allowed-signers format (`<principal> namespaces=\"git\" ssh-ed25519 AAAA…`)",
            )
        }
    };
    ev["signature"] = json!(state);
    let sign_hint = "lane promote and lane rollback sign with --signing-key (LANE_SIGNING_KEY); never push to the GitOps branch by hand";
    match state {
        SignatureState::Good {
            fingerprint,
            principal,
        } => Check::pass(
            G,
            ID,
            format!("GitOps commit {c} is signed by {principal} ({fingerprint})"),
            ev,
        ),
        SignatureState::Unsigned => Check::fail(
            G,
            ID,
            format!("GitOps commit {c} is unsigned"),
            ev,
            sign_hint,
        ),
        SignatureState::NotSsh => Check::fail(
            G,
            ID,
            format!("GitOps commit {c} is signed, but not with an SSH signature (gpg.format=ssh)"),
            ev,
            sign_hint,
        ),
        SignatureState::Bad { detail } => Check::fail(
            G,
            ID,
            format!("GitOps commit {c} has a bad signature: it does not match the commit ({detail})"),
            ev,
            "the commit was changed after it was signed, or the signature is forged: find out who pushed it before trusting the branch",
        ),
        SignatureState::UnknownKey { fingerprint } => Check::fail(
            G,
            ID,
            format!("GitOps commit {c} is signed by an unknown key {fingerprint}: the allowed-signers file does not name it"),
            ev,
            "add the promote key's public half to the allowed-signers file if it is yours; otherwise someone else wrote the branch",
        ),
        SignatureState::NotAllowed {
            fingerprint,
            principals,
            detail,
        } => Check::fail(
            G,
            ID,
            format!(
                "GitOps commit {c} is signed by {fingerprint} ({}), but the allowed-signers file does not allow it for git commits: {detail}",
                principals.join(", ")
            ),
            ev,
            "check the key's namespaces= and valid-after/valid-before options in the allowed-signers file",
        ),
    }
}
