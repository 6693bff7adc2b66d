//! Git access. Object work (resolve, read trees and blobs, write trees and commits, move refs
//! by compare-and-swap) uses gix without a worktree; network fetch and push use the git CLI,
//! because gix has no push (see docs/decisions.md).

pub mod cli;
pub mod gitops;
pub mod remote;
pub mod scratch;
pub mod sign;
pub mod write;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use gix::prelude::ObjectIdExt;

use crate::commit::Commit;
use crate::error::{Classified, ExitClass};

#[derive(Debug, thiserror::Error)]
pub enum GitError {
    #[error("cannot open git repository at {path}: {message}")]
    Open { path: String, message: String },
    #[error("'{spec}' matches no commit in {repo}")]
    NotFound { spec: String, repo: String },
    #[error("short commit '{spec}' is ambiguous: it matches more than one object")]
    Ambiguous { spec: String },
    #[error("'{spec}' names a {kind}, not a commit")]
    NotACommit { spec: String, kind: String },
    #[error("'{spec}' is not a commit id, branch, tag or ref")]
    BadSpec { spec: String },
    #[error("git object error: {0}")]
    Object(String),
    #[error("`git {command}` failed: {stderr}")]
    Command { command: String, stderr: String },
    #[error("cannot run git: {0}")]
    Spawn(String),
    #[error("'{value}' starts with '-', which git would read as an option")]
    OptionShaped { value: String },
    #[error("{what}: {source}")]
    Remote {
        what: String,
        #[source]
        source: remote::RemoteError,
    },
}

impl Classified for GitError {
    fn class(&self) -> ExitClass {
        match self {
            GitError::NotFound { .. }
            | GitError::Ambiguous { .. }
            | GitError::NotACommit { .. }
            | GitError::BadSpec { .. }
            | GitError::OptionShaped { .. }
            | GitError::Remote { .. } => ExitClass::Rejected,
            _ => ExitClass::Environment,
        }
    }
    fn hint(&self) -> Option<String> {
        Some(match self {
            GitError::NotFound { .. } => {
                "fetch the commit first, or pass the full 40-character SHA".into()
            }
            GitError::Ambiguous { .. } => {
                "pass more characters of the commit, ideally all 40".into()
            }
            GitError::NotACommit { .. } => "pass a commit (or a ref that points at one)".into(),
            GitError::Open { .. } => "run inside a git checkout or pass --repo".into(),
            GitError::OptionShaped { .. } => {
                "pass a commit, ref or path that does not start with '-'".into()
            }
            GitError::Remote { .. } => {
                "use an https://, ssh://, git@host:path, git:// or file:// remote".into()
            }
            _ => return None,
        })
    }
}

/// Kind of a tree entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    Tree,
    Blob,
    Executable,
    Link,
    Commit,
}

/// A repository opened for object work.
pub struct Repo {
    repo: gix::Repository,
    path: PathBuf,
}

/// A path as a tree lookup takes it: `./a//b/` is `a/b`, the root is `""`.
fn tree_path(path: &str) -> String {
    path.split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect::<Vec<_>>()
        .join("/")
}

fn obj_err(e: impl std::fmt::Display) -> GitError {
    GitError::Object(e.to_string())
}

/// An object id git gave for a commit, as lane records it. A SHA-256 repository's ids are 64
/// hex: lane records SHA-1 commits only.
pub fn commit_id(id: &str) -> Result<Commit, GitError> {
    Commit::try_from(id).map_err(|e| {
        GitError::Object(format!(
            "git resolved commit id '{id}', which lane cannot use: it {e}"
        ))
    })
}

impl Repo {
    /// Open a repository (worktree or bare) at `path`.
    pub fn open(path: &Path) -> Result<Repo, GitError> {
        let repo = gix::open(path).map_err(|e| GitError::Open {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        Ok(Repo {
            repo,
            path: path.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The git directory (`.git` or the bare repository).
    pub fn git_dir(&self) -> &Path {
        self.repo.git_dir()
    }

    pub fn gix(&self) -> &gix::Repository {
        &self.repo
    }

    /// Resolve a full or short SHA, or a ref, to the full 40-hex commit. A short SHA that
    /// matches nothing or more than one object is an error (never a guess).
    pub fn resolve_commit(&self, spec: &str) -> Result<Commit, GitError> {
        let spec = spec.trim();
        let repo_name = self.path.display().to_string();
        // Revision expressions (`HEAD~1`, `v1^{tree}`, `@{u}`, `a..b`) are not refs: strict
        // resolution rejects them instead of guessing.
        if spec.is_empty()
            || spec.starts_with('-')
            || spec.contains("..")
            || spec.contains("@{")
            || spec.chars().any(|c| {
                c.is_control() || matches!(c, ' ' | '~' | '^' | ':' | '?' | '*' | '[' | '\\')
            })
        {
            return Err(GitError::BadSpec { spec: spec.into() });
        }
        let is_hex =
            spec.len() >= 4 && spec.len() <= 40 && spec.bytes().all(|c| c.is_ascii_hexdigit());
        let id = if is_hex {
            let lower = spec.to_ascii_lowercase();
            let prefix = gix::hash::Prefix::from_hex(&lower).map_err(obj_err)?;
            match self
                .repo
                .objects
                .lookup_prefix(prefix, None)
                .map_err(obj_err)?
            {
                Some(Ok(id)) => Some(id),
                Some(Err(())) => return Err(GitError::Ambiguous { spec: spec.into() }),
                None => None,
            }
        } else {
            None
        };
        let id = match id {
            Some(id) => id,
            None => {
                // Refs (branch, tag, remote branch, HEAD) — not rev-parse expressions.
                let found = if is_hex {
                    None
                } else {
                    self.find_ref_target(spec)?
                };
                match found {
                    Some(id) => id,
                    None => {
                        return Err(GitError::NotFound {
                            spec: spec.into(),
                            repo: repo_name,
                        })
                    }
                }
            }
        };
        let obj = self.repo.find_object(id).map_err(obj_err)?;
        let kind = obj.kind;
        let commit = match kind {
            gix::object::Kind::Commit => id,
            gix::object::Kind::Tag => {
                obj.peel_to_kind(gix::object::Kind::Commit)
                    .map_err(|_| GitError::NotACommit {
                        spec: spec.into(),
                        kind: "tag of a non-commit".into(),
                    })?
                    .id
            }
            other => {
                return Err(GitError::NotACommit {
                    spec: spec.into(),
                    kind: other.to_string(),
                })
            }
        };
        commit_id(&commit.to_string())
    }

    fn find_ref_target(&self, name: &str) -> Result<Option<gix::ObjectId>, GitError> {
        let candidates: Vec<String> = if name == "HEAD" || name.starts_with("refs/") {
            vec![name.to_string()]
        } else {
            vec![
                format!("refs/heads/{name}"),
                format!("refs/tags/{name}"),
                format!("refs/remotes/{name}"),
                format!("refs/remotes/origin/{name}"),
                format!("refs/{name}"),
            ]
        };
        for c in candidates {
            if let Some(id) = self.ref_target(&c)? {
                return Ok(Some(
                    gix::ObjectId::from_hex(id.as_bytes()).map_err(obj_err)?,
                ));
            }
        }
        Ok(None)
    }

    /// The object a ref points at (peeled through symbolic refs), if the ref exists.
    pub fn ref_target(&self, refname: &str) -> Result<Option<String>, GitError> {
        match self.repo.try_find_reference(refname).map_err(obj_err)? {
            Some(mut r) => {
                let id = r.peel_to_id().map_err(obj_err)?;
                Ok(Some(id.to_string()))
            }
            None => Ok(None),
        }
    }

    fn commit_tree(&self, commit: &str) -> Result<gix::Tree<'_>, GitError> {
        let id = gix::ObjectId::from_hex(commit.as_bytes()).map_err(obj_err)?;
        let c = self.repo.find_commit(id).map_err(obj_err)?;
        c.tree().map_err(obj_err)
    }

    /// Tree id of a commit.
    pub fn tree_id(&self, commit: &str) -> Result<String, GitError> {
        Ok(self.commit_tree(commit)?.id.to_string())
    }

    /// Id and kind of the entry at `path` in `commit`'s tree (`""` is the root tree).
    pub fn entry(&self, commit: &str, path: &str) -> Result<Option<(String, EntryKind)>, GitError> {
        let tree = self.commit_tree(commit)?;
        let path = tree_path(path);
        if path.is_empty() {
            return Ok(Some((tree.id.to_string(), EntryKind::Tree)));
        }
        let entry = tree.lookup_entry_by_path(&path).map_err(obj_err)?;
        Ok(entry.map(|e| {
            let mode = e.mode();
            let kind = if mode.is_tree() {
                EntryKind::Tree
            } else if mode.is_link() {
                EntryKind::Link
            } else if mode.is_commit() {
                EntryKind::Commit
            } else if mode.is_executable() {
                EntryKind::Executable
            } else {
                EntryKind::Blob
            };
            (e.object_id().to_string(), kind)
        }))
    }

    /// Contents of the blob at `path` in `commit`, if it exists and is a file.
    pub fn read_file(&self, commit: &str, path: &str) -> Result<Option<Vec<u8>>, GitError> {
        match self.entry(commit, path)? {
            Some((id, EntryKind::Blob | EntryKind::Executable)) => Ok(Some(self.read_blob(&id)?)),
            _ => Ok(None),
        }
    }

    pub fn read_blob(&self, id: &str) -> Result<Vec<u8>, GitError> {
        let oid = gix::ObjectId::from_hex(id.as_bytes()).map_err(obj_err)?;
        let obj = self.repo.find_object(oid).map_err(obj_err)?;
        Ok(obj.detach().data)
    }

    /// Every file under `dir` in `commit`, keyed by path relative to `dir`. Empty when the
    /// directory does not exist.
    pub fn read_dir_files(
        &self,
        commit: &str,
        dir: &str,
    ) -> Result<BTreeMap<String, Vec<u8>>, GitError> {
        let mut out = BTreeMap::new();
        let Some((id, EntryKind::Tree)) = self.entry(commit, dir)? else {
            return Ok(out);
        };
        let oid = gix::ObjectId::from_hex(id.as_bytes()).map_err(obj_err)?;
        self.walk_tree(oid, String::new(), &mut out)?;
        Ok(out)
    }

    fn walk_tree(
        &self,
        tree: gix::ObjectId,
        prefix: String,
        out: &mut BTreeMap<String, Vec<u8>>,
    ) -> Result<(), GitError> {
        let t = tree
            .attach(&self.repo)
            .object()
            .map_err(obj_err)?
            .into_tree();
        let decoded = t.decode().map_err(obj_err)?;
        let entries: Vec<(String, gix::ObjectId, bool, bool)> = decoded
            .entries
            .iter()
            .map(|e| {
                (
                    e.filename.to_string(),
                    e.oid.to_owned(),
                    e.mode.is_tree(),
                    e.mode.is_commit(),
                )
            })
            .collect();
        for (name, oid, is_tree, is_commit) in entries {
            let path = if prefix.is_empty() {
                name
            } else {
                format!("{prefix}/{name}")
            };
            if is_tree {
                self.walk_tree(oid, path, out)?;
            } else if !is_commit {
                out.insert(path, self.read_blob(&oid.to_string())?);
            }
        }
        Ok(())
    }

    /// Every file path under `dir` in `commit` with its blob id, without reading the blobs
    /// (for scans that only open some files). Empty when the directory does not exist.
    pub fn list_files(
        &self,
        commit: &str,
        dir: &str,
    ) -> Result<BTreeMap<String, String>, GitError> {
        let mut out = BTreeMap::new();
        let Some((id, EntryKind::Tree)) = self.entry(commit, dir)? else {
            return Ok(out);
        };
        let mut stack = vec![(
            gix::ObjectId::from_hex(id.as_bytes()).map_err(obj_err)?,
            String::new(),
        )];
        while let Some((tree, prefix)) = stack.pop() {
            let t = tree
                .attach(&self.repo)
                .object()
                .map_err(obj_err)?
                .into_tree();
            let decoded = t.decode().map_err(obj_err)?;
            for e in decoded.entries.iter() {
                let path = if prefix.is_empty() {
                    e.filename.to_string()
                } else {
                    format!("{prefix}/{}", e.filename)
                };
                if e.mode.is_tree() {
                    stack.push((e.oid.to_owned(), path));
                } else if !e.mode.is_commit() {
                    out.insert(path, e.oid.to_string());
                }
            }
        }
        Ok(out)
    }

    /// True when `ancestor` is reachable from `descendant` (equal counts as ancestor).
    pub fn is_ancestor(&self, ancestor: &str, descendant: &str) -> Result<bool, GitError> {
        if ancestor == descendant {
            return Ok(true);
        }
        let a = gix::ObjectId::from_hex(ancestor.as_bytes()).map_err(obj_err)?;
        let d = gix::ObjectId::from_hex(descendant.as_bytes()).map_err(obj_err)?;
        // merge_base answers None when the histories are unrelated.
        let base = self.repo.merge_base(a, d).map_err(obj_err)?;
        Ok(base.is_some_and(|b| b.detach() == a))
    }

    /// Does an object exist in this repository?
    pub fn has_object(&self, id: &str) -> bool {
        gix::ObjectId::from_hex(id.as_bytes())
            .map(|oid| self.repo.has_object(oid))
            .unwrap_or(false)
    }
}
