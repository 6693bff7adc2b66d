//! The runtime tree read from the GitOps branch: its files and the Kubernetes objects in them.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::git::{GitError, Repo};
use crate::model::labels;

/// One object of the runtime tree.
#[derive(Debug, Clone)]
pub struct Obj {
    /// File (relative to the runtime path) it came from.
    pub file: String,
    pub value: Value,
}

impl Obj {
    pub fn str_at(&self, pointer: &str) -> Option<&str> {
        self.value.pointer(pointer).and_then(Value::as_str)
    }
    pub fn kind(&self) -> &str {
        self.str_at("/kind").unwrap_or_default()
    }
    pub fn api_version(&self) -> &str {
        self.str_at("/apiVersion").unwrap_or_default()
    }
    pub fn name(&self) -> &str {
        self.str_at("/metadata/name").unwrap_or_default()
    }
    pub fn label(&self, key: &str) -> Option<&str> {
        self.value
            .pointer("/metadata/labels")
            .and_then(|l| l.get(key))
            .and_then(Value::as_str)
    }
    /// The service this object belongs to (`lane.dev/service`).
    pub fn service(&self) -> Option<&str> {
        self.label(labels::SERVICE)
    }
}

/// Files and parsed objects of the runtime directory.
#[derive(Debug, Clone, Default)]
pub struct Tree {
    pub files: BTreeMap<String, String>,
    pub objects: Vec<Obj>,
    /// Files that are not YAML/JSON objects: (file, problem).
    pub unparsed: Vec<(String, String)>,
}

impl Tree {
    pub fn load(repo: &Repo, commit: &str, dir: &str) -> Result<Tree, GitError> {
        let files = repo
            .read_dir_files(commit, dir)?
            .into_iter()
            .map(|(k, v)| (k, String::from_utf8_lossy(&v).into_owned()))
            .collect();
        Ok(Tree::from_files(files))
    }

    pub fn from_files(files: BTreeMap<String, String>) -> Tree {
        let mut objects = Vec::new();
        let mut unparsed = Vec::new();
        for (file, text) in &files {
            if !(file.ends_with(".yaml") || file.ends_with(".yml") || file.ends_with(".json")) {
                continue;
            }
            match crate::yaml::from_multiple(text) {
                Ok(docs) => {
                    for v in docs.into_iter().filter(|v| !v.is_null()) {
                        if v.get("kind").is_some() {
                            objects.push(Obj {
                                file: file.clone(),
                                value: v,
                            });
                        }
                    }
                }
                Err(e) => unparsed.push((
                    file.clone(),
                    e.to_string().lines().next().unwrap_or_default().to_string(),
                )),
            }
        }
        Tree {
            files,
            objects,
            unparsed,
        }
    }

    pub fn of_kind<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = &'a Obj> + 'a {
        self.objects
            .iter()
            .filter(move |o| o.kind() == kind && o.kind() != "Kustomization")
    }

    pub fn find(&self, kind: &str, name: &str) -> Option<&Obj> {
        self.objects
            .iter()
            .find(|o| o.kind() == kind && o.name() == name)
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }
}

/// Every `image` string of the containers and init containers in a manifest, with its JSON
/// pointer.
pub fn images(v: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    walk_images(v, String::new(), &mut out);
    out
}

fn walk_images(v: &Value, path: String, out: &mut Vec<(String, String)>) {
    match v {
        Value::Object(m) => {
            for (k, c) in m {
                let p = format!("{path}/{k}");
                if (k == "containers" || k == "initContainers" || k == "ephemeralContainers")
                    && c.is_array()
                {
                    for (i, ctr) in c.as_array().into_iter().flatten().enumerate() {
                        if let Some(img) = ctr.get("image").and_then(Value::as_str) {
                            out.push((format!("{p}/{i}/image"), img.to_string()));
                        }
                    }
                } else {
                    walk_images(c, p, out);
                }
            }
        }
        Value::Array(a) => {
            for (i, c) in a.iter().enumerate() {
                walk_images(c, format!("{path}/{i}"), out);
            }
        }
        _ => {}
    }
}

/// Split `repo@sha256:…` into repository and digest; `None` when not pinned by digest.
pub fn split_pinned(image: &str) -> Option<(&str, crate::model::Digest)> {
    let (repo, digest) = image.rsplit_once('@')?;
    Some((repo, crate::model::Digest::try_from(digest).ok()?))
}

/// The pod template of a workload object (Deployment, CronJob, Job).
pub fn pod_template(v: &Value) -> Option<&Value> {
    v.pointer("/spec/template")
        .or_else(|| v.pointer("/spec/jobTemplate/spec/template"))
}
