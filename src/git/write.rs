//! Writing objects without a worktree: blobs, a tree derived from a previous tree by replacing
//! named paths, commits, and local ref updates by compare-and-swap. Used by `promote`.

use std::collections::BTreeMap;

use gix::objs::tree::EntryKind as GixKind;
use gix::prelude::ObjectIdExt;
use gix::refs::transaction::{LogChange, PreviousValue, RefEdit, RefLog};
use gix::refs::Target;
use gix::ObjectId;

use super::{GitError, Repo};

fn obj_err(e: impl std::fmt::Display) -> GitError {
    GitError::Object(e.to_string())
}

fn oid(hex: &str) -> Result<ObjectId, GitError> {
    ObjectId::from_hex(hex.as_bytes()).map_err(obj_err)
}

/// Author and committer of the commits lane writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub name: String,
    pub email: String,
}

impl Identity {
    /// `GIT_COMMITTER_NAME`/`GIT_COMMITTER_EMAIL` (then the `GIT_AUTHOR_*` pair) when set,
    /// else a fixed `lane <lane@lane.invalid>`: a Tekton step has no git config.
    pub fn from_env() -> Identity {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
        Identity {
            name: var("GIT_COMMITTER_NAME")
                .or_else(|| var("GIT_AUTHOR_NAME"))
                .unwrap_or_else(|| "lane".into()),
            email: var("GIT_COMMITTER_EMAIL")
                .or_else(|| var("GIT_AUTHOR_EMAIL"))
                .unwrap_or_else(|| "lane@lane.invalid".into()),
        }
    }
}

/// Why a signed commit could not be written.
#[derive(Debug, thiserror::Error)]
pub enum SignedWriteError {
    #[error(transparent)]
    Git(#[from] GitError),
    #[error(transparent)]
    Sign(#[from] super::sign::SignError),
}

/// One replacement of a tree: a file, or a whole directory replaced by exactly `files`
/// (paths relative to the directory; an empty map removes the directory).
#[derive(Debug, Clone)]
pub enum Replace<'a> {
    File {
        path: &'a str,
        content: &'a [u8],
    },
    Dir {
        path: &'a str,
        files: &'a BTreeMap<String, String>,
    },
}

impl Repo {
    /// Write a blob; returns its id.
    pub fn write_blob(&self, bytes: &[u8]) -> Result<String, GitError> {
        Ok(self.gix().write_blob(bytes).map_err(obj_err)?.to_string())
    }

    /// The tree `base` (or the empty tree) with `edits` applied; returns the new tree id. Only
    /// the trees on the edited paths are rewritten; everything else is shared with `base`.
    pub fn replace_in_tree(
        &self,
        base: Option<&str>,
        edits: &[Replace<'_>],
    ) -> Result<String, GitError> {
        let repo = self.gix();
        let base = match base {
            Some(t) => oid(t)?,
            None => ObjectId::empty_tree(repo.object_hash()),
        };
        let mut editor = repo.edit_tree(base).map_err(obj_err)?;
        for edit in edits {
            match edit {
                Replace::File { path, content } => {
                    let blob = repo.write_blob(content).map_err(obj_err)?.detach();
                    editor.upsert(*path, GixKind::Blob, blob).map_err(obj_err)?;
                }
                Replace::Dir { path, files } => {
                    editor.remove(*path).map_err(obj_err)?;
                    for (rel, content) in files.iter() {
                        let blob = repo
                            .write_blob(content.as_bytes())
                            .map_err(obj_err)?
                            .detach();
                        editor
                            .upsert(format!("{path}/{rel}"), GixKind::Blob, blob)
                            .map_err(obj_err)?;
                    }
                }
            }
        }
        Ok(editor.write().map_err(obj_err)?.to_string())
    }

    /// Paths (files, or whole subtrees added/removed, or type changes) that differ between two
    /// trees. Equal subtrees are skipped by id, so the cost follows the size of the change.
    pub fn changed_paths(&self, old: Option<&str>, new: &str) -> Result<Vec<String>, GitError> {
        let empty = ObjectId::empty_tree(self.gix().object_hash());
        let old = match old {
            Some(t) => oid(t)?,
            None => empty,
        };
        let mut out = Vec::new();
        self.diff_trees(old, oid(new)?, String::new(), &mut out)?;
        Ok(out)
    }

    fn tree_entries(&self, tree: ObjectId) -> Result<BTreeMap<String, (ObjectId, bool)>, GitError> {
        if tree == ObjectId::empty_tree(self.gix().object_hash()) {
            return Ok(BTreeMap::new());
        }
        let t = tree
            .attach(self.gix())
            .object()
            .map_err(obj_err)?
            .into_tree();
        let decoded = t.decode().map_err(obj_err)?;
        Ok(decoded
            .entries
            .iter()
            .map(|e| (e.filename.to_string(), (e.oid.to_owned(), e.mode.is_tree())))
            .collect())
    }

    fn diff_trees(
        &self,
        old: ObjectId,
        new: ObjectId,
        prefix: String,
        out: &mut Vec<String>,
    ) -> Result<(), GitError> {
        if old == new {
            return Ok(());
        }
        let a = self.tree_entries(old)?;
        let b = self.tree_entries(new)?;
        let join = |name: &str| {
            if prefix.is_empty() {
                name.to_string()
            } else {
                format!("{prefix}/{name}")
            }
        };
        let empty = ObjectId::empty_tree(self.gix().object_hash());
        let names: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
        for name in names {
            let (x, y) = (a.get(name), b.get(name));
            if x == y {
                continue;
            }
            // Trees are listed down to their files, so every reported path is a file path.
            let tree_of = |e: Option<&(ObjectId, bool)>| match e {
                Some((id, true)) => *id,
                _ => empty,
            };
            let is_blob = |e: Option<&(ObjectId, bool)>| matches!(e, Some((_, false)));
            if is_blob(x) || is_blob(y) {
                out.push(join(name));
            }
            self.diff_trees(tree_of(x), tree_of(y), join(name), out)?;
        }
        Ok(())
    }

    /// Write a commit object (no ref moves); returns its id.
    pub fn write_commit(
        &self,
        tree: &str,
        parents: &[String],
        message: &str,
        who: &Identity,
        unix_seconds: i64,
    ) -> Result<String, GitError> {
        self.write_commit_signed(tree, parents, message, who, unix_seconds, None)
            .map_err(|e| match e {
                SignedWriteError::Git(e) => e,
                SignedWriteError::Sign(e) => GitError::Object(e.to_string()),
            })
    }

    /// Write a commit object, SSH-signed with `key` when given (the `gpgsig` header over the
    /// commit without it, as `git commit -S` with `gpg.format=ssh` writes it).
    pub fn write_commit_signed(
        &self,
        tree: &str,
        parents: &[String],
        message: &str,
        who: &Identity,
        unix_seconds: i64,
        key: Option<&super::sign::SigningKey>,
    ) -> Result<String, SignedWriteError> {
        let sig = gix::actor::Signature {
            name: who.name.as_str().into(),
            email: who.email.as_str().into(),
            time: gix::date::Time {
                seconds: unix_seconds,
                offset: 0,
            },
        };
        let parents = parents
            .iter()
            .map(|p| oid(p))
            .collect::<Result<Vec<_>, _>>()?;
        let mut commit = gix::objs::Commit {
            tree: oid(tree)?,
            parents: parents.into_iter().collect(),
            author: sig.clone(),
            committer: sig,
            encoding: None,
            message: message.into(),
            extra_headers: Vec::new(),
        };
        if let Some(key) = key {
            let mut payload = Vec::new();
            gix::objs::WriteTo::write_to(&commit, &mut payload).map_err(obj_err)?;
            let armored = key.sign(&payload)?;
            commit.extra_headers.push(("gpgsig".into(), armored.into()));
        }
        Ok(self
            .gix()
            .write_object(&commit)
            .map_err(obj_err)?
            .to_string())
    }

    /// Move `refname` to `new` only if it currently points at `expected` (`None`: it must not
    /// exist). Fails without changing anything when another writer moved it first.
    pub fn update_ref_cas(
        &self,
        refname: &str,
        new: &str,
        expected: Option<&str>,
        reason: &str,
    ) -> Result<(), GitError> {
        let name: gix::refs::FullName = refname.try_into().map_err(obj_err)?;
        let previous = match expected {
            Some(e) => PreviousValue::MustExistAndMatch(Target::Object(oid(e)?)),
            None => PreviousValue::MustNotExist,
        };
        let edit = RefEdit {
            change: gix::refs::transaction::Change::Update {
                log: LogChange {
                    mode: RefLog::AndReference,
                    force_create_reflog: false,
                    message: reason.into(),
                },
                expected: previous,
                new: Target::Object(oid(new)?),
            },
            name,
            deref: false,
        };
        let who = Identity::from_env();
        let sig = gix::actor::Signature {
            name: who.name.as_str().into(),
            email: who.email.as_str().into(),
            time: gix::date::Time::now_utc(),
        };
        let mut time = gix::date::parse::TimeBuf::default();
        self.gix()
            .edit_references_as(Some(edit), Some(sig.to_ref(&mut time)))
            .map_err(obj_err)?;
        Ok(())
    }
}
