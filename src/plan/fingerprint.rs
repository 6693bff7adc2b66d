//! Build fingerprints (docs/fingerprint.md): what determines a service's image, hashed from
//! git object ids so that the cost is a few tree lookups per service, never a read of every
//! file (a tree id already hashes everything below it).

use sha2::{Digest, Sha256};

use crate::git::{EntryKind, GitError, Repo};
use crate::model::intent::BuildSource;

/// Version of the encoding below; bump it when the encoding changes (every service then
/// rebuilds once, which is the safe direction).
pub const FINGERPRINT_VERSION: &str = "lane-build-fingerprint/v1";

/// The git objects a build reads, looked up at one commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildInputs {
    /// Normalised repo-relative context directory (`""` is the repository root).
    pub context: String,
    pub context_tree: String,
    pub dockerfile: String,
    pub dockerfile_blob: String,
    /// BuildKit's per-Dockerfile ignore file (`<Dockerfile>.dockerignore`), when present.
    pub dockerignore_blob: Option<String>,
}

/// Why a service's build inputs cannot be found at the commit.
#[derive(Debug, thiserror::Error)]
pub enum InputsError {
    #[error("service '{service}': build.{field} '{path}' does not exist at commit {commit}")]
    Missing {
        service: String,
        field: &'static str,
        path: String,
        commit: String,
    },
    #[error(
        "service '{service}': build.{field} '{path}' at commit {commit} is a {found}, not a {want}"
    )]
    WrongKind {
        service: String,
        field: &'static str,
        path: String,
        commit: String,
        found: &'static str,
        want: &'static str,
    },
    #[error(transparent)]
    Git(#[from] GitError),
}

fn kind_name(k: EntryKind) -> &'static str {
    match k {
        EntryKind::Tree => "directory",
        EntryKind::Blob | EntryKind::Executable => "file",
        EntryKind::Link => "symbolic link",
        EntryKind::Commit => "submodule",
    }
}

/// Look up the context tree and Dockerfile blob of `service` at `commit`.
pub fn build_inputs(
    repo: &Repo,
    commit: &str,
    service: &str,
    build: &BuildSource,
) -> Result<BuildInputs, InputsError> {
    let context = build.context.normalized();
    let dockerfile = build.dockerfile.normalized();
    let lookup = |field: &'static str, path: &str, want_tree: bool| {
        let shown = if path.is_empty() { "." } else { path };
        match repo.entry(commit, path)? {
            None => Err(InputsError::Missing {
                service: service.into(),
                field,
                path: shown.into(),
                commit: commit.into(),
            }),
            Some((id, kind)) => {
                let ok = if want_tree {
                    kind == EntryKind::Tree
                } else {
                    matches!(kind, EntryKind::Blob | EntryKind::Executable)
                };
                if ok {
                    Ok(id)
                } else {
                    Err(InputsError::WrongKind {
                        service: service.into(),
                        field,
                        path: shown.into(),
                        commit: commit.into(),
                        found: kind_name(kind),
                        want: if want_tree { "directory" } else { "file" },
                    })
                }
            }
        }
    };
    let context_tree = lookup("context", &context, true)?;
    let dockerfile_blob = lookup("dockerfile", &dockerfile, false)?;
    let dockerignore_blob = match repo.entry(commit, &format!("{dockerfile}.dockerignore"))? {
        Some((id, EntryKind::Blob | EntryKind::Executable)) => Some(id),
        _ => None,
    };
    Ok(BuildInputs {
        context,
        context_tree,
        dockerfile,
        dockerfile_blob,
        dockerignore_blob,
    })
}

/// `sha256:<hex>` over the versioned, length-prefixed encoding of everything that decides the
/// image. Length prefixes make the encoding injective: no two different inputs share bytes.
pub fn fingerprint(service: &str, inputs: &BuildInputs, build: &BuildSource) -> String {
    let mut h = Sha256::new();
    let mut field = |name: &str, value: &str| {
        h.update(name.as_bytes());
        h.update(format!(" {}:", value.len()).as_bytes());
        h.update(value.as_bytes());
        h.update(b"\n");
    };
    field("version", FINGERPRINT_VERSION);
    field("service", service);
    field("context", &inputs.context);
    field("context-tree", &inputs.context_tree);
    field("dockerfile", &inputs.dockerfile);
    field("dockerfile-blob", &inputs.dockerfile_blob);
    field(
        "dockerignore-blob",
        inputs.dockerignore_blob.as_deref().unwrap_or("-"),
    );
    // BTreeMap: sorted by key, so the order in deploy.json does not matter.
    field("args", &build.args.len().to_string());
    for (k, v) in &build.args {
        field("arg-name", k);
        field("arg-value", v);
    }
    match &build.target {
        Some(t) => field("target", t),
        None => field("no-target", ""),
    }
    let digest = h.finalize();
    let mut out = String::with_capacity(71);
    out.push_str("sha256:");
    for b in digest.iter() {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn inputs() -> BuildInputs {
        BuildInputs {
            context: "apps/mgr".into(),
            context_tree: "1".repeat(40),
            dockerfile: "apps/mgr/Dockerfile".into(),
            dockerfile_blob: "2".repeat(40),
            dockerignore_blob: None,
        }
    }

    fn build(args: &[(&str, &str)], target: Option<&str>) -> BuildSource {
        BuildSource {
            context: "apps/mgr".try_into().unwrap(),
            dockerfile: "apps/mgr/Dockerfile".try_into().unwrap(),
            args: args
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>(),
            target: target.map(str::to_string),
        }
    }

    #[test]
    fn format_and_stability() {
        let f = fingerprint("mgr", &inputs(), &build(&[], None));
        assert!(crate::model::Digest::is_valid(&f), "{f}");
        assert_eq!(f, fingerprint("mgr", &inputs(), &build(&[], None)));
    }

    #[test]
    fn every_input_counts() {
        let base = fingerprint("mgr", &inputs(), &build(&[("A", "1")], None));
        assert_ne!(
            base,
            fingerprint("mgr2", &inputs(), &build(&[("A", "1")], None))
        );
        assert_ne!(
            base,
            fingerprint("mgr", &inputs(), &build(&[("A", "2")], None))
        );
        assert_ne!(
            base,
            fingerprint("mgr", &inputs(), &build(&[("B", "1")], None))
        );
        assert_ne!(
            base,
            fingerprint("mgr", &inputs(), &build(&[("A", "1")], Some("t")))
        );
        let mut i = inputs();
        i.context_tree = "3".repeat(40);
        assert_ne!(base, fingerprint("mgr", &i, &build(&[("A", "1")], None)));
        let mut i = inputs();
        i.dockerfile_blob = "3".repeat(40);
        assert_ne!(base, fingerprint("mgr", &i, &build(&[("A", "1")], None)));
        let mut i = inputs();
        i.dockerignore_blob = Some("3".repeat(40));
        assert_ne!(base, fingerprint("mgr", &i, &build(&[("A", "1")], None)));
        let mut i = inputs();
        i.context = "apps/manager".into();
        assert_ne!(base, fingerprint("mgr", &i, &build(&[("A", "1")], None)));
    }

    #[test]
    fn no_field_can_leak_into_the_next() {
        // Without length prefixes these two would encode the same bytes.
        let a = fingerprint("mgr", &inputs(), &build(&[("A", "1\narg-name 1:B")], None));
        let b = fingerprint("mgr", &inputs(), &build(&[("A", "1"), ("B", "")], None));
        assert_ne!(a, b);
        assert_ne!(
            fingerprint("mgr", &inputs(), &build(&[], Some(""))),
            fingerprint("mgr", &inputs(), &build(&[], None))
        );
    }

    #[test]
    fn arg_order_does_not_matter() {
        assert_eq!(
            fingerprint("mgr", &inputs(), &build(&[("A", "1"), ("B", "2")], None)),
            fingerprint("mgr", &inputs(), &build(&[("B", "2"), ("A", "1")], None))
        );
    }
}
