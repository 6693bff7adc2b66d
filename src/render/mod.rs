//! `lane render`: the digest-pinned runtime tree.
//!
//! API used by promote and verify: [`render_tree`] renders the lane's runtime directory from
//! the intent and a catalog, in memory, deterministically. Every file is parsed back and
//! checked (identity, lane namespace, digest-pinned images, no credential-looking value)
//! before the tree is returned; any failure is an error and nothing is produced.

pub mod cli;
mod context;
pub mod diff;
mod postcheck;
pub mod templates;

use std::collections::BTreeMap;

use crate::error::{Classified, ExitClass};
use crate::model::{Catalog, Lane};

pub use cli::{run, RenderArgs, RenderReport};
pub use context::{config_hash, CONFIG_HASH_ANNOTATION, SEED_SCRIPT};
pub use templates::Templates;

/// File name of the kustomization that lists every object file.
pub const KUSTOMIZATION: &str = "kustomization.yaml";

/// The rendered runtime directory: path relative to the runtime path → file content.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RenderedTree {
    pub files: BTreeMap<String, String>,
    /// The Kubernetes objects in the tree, sorted by file (the kustomization is not one).
    pub objects: Vec<ObjectRef>,
}

/// One rendered object and the file that holds it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectRef {
    pub file: String,
    pub api_version: String,
    pub kind: String,
    pub name: String,
    /// The service the object belongs to (none for lane-wide objects).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("service '{service}' takes part in the lane but has no digest in the catalog")]
    MissingDigest { service: String },
    #[error("render failed: {0}")]
    Template(String),
    #[error("deploy.json {path}: {message} (rule: {rule})")]
    Intent {
        path: String,
        rule: &'static str,
        message: String,
    },
    #[error("rendered {file} {path}: {message} (rule: {rule})")]
    Invalid {
        file: String,
        path: String,
        rule: &'static str,
        message: String,
    },
}

impl Classified for RenderError {
    fn class(&self) -> ExitClass {
        ExitClass::Rejected
    }
    fn hint(&self) -> Option<String> {
        Some(match self {
            RenderError::MissingDigest { .. } => {
                "publish the service and promote its digest into the catalog (or disable it in deploy.json); a manifest is never rendered from a tag".into()
            }
            RenderError::Template(_) => {
                "fix the template named above (templates/runtime or --templates DIR)".into()
            }
            RenderError::Intent { .. } => "fix deploy.json at the path named above".into(),
            RenderError::Invalid { .. } => {
                "the rendered manifest broke a rule; fix the template or the deploy.json value that feeds it".into()
            }
        })
    }
    fn details(&self) -> Option<serde_json::Value> {
        match self {
            RenderError::MissingDigest { service } => {
                Some(serde_json::json!({ "missing": [service] }))
            }
            RenderError::Intent { path, rule, .. } => {
                Some(serde_json::json!({ "path": path, "rule": rule }))
            }
            RenderError::Invalid {
                file, path, rule, ..
            } => Some(serde_json::json!({ "file": file, "path": path, "rule": rule })),
            _ => None,
        }
    }
}

/// Below this many objects one thread renders everything (threads cost more than they save).
const PARALLEL_FROM: usize = 64;

/// Render, parse back and check every planned object, in plan order. Large lanes are split
/// into contiguous chunks over the machine's cores (each worker also frees what it built);
/// the result, and the first error in plan order, are the same as rendering one by one.
fn render_all(
    templates: &Templates,
    mut planned: Vec<context::Planned<'_>>,
    ns: &str,
) -> Vec<Result<(String, ObjectRef), RenderError>> {
    let one = |p: context::Planned<'_>| render_one(templates, p, ns);
    let workers = std::thread::available_parallelism()
        .map(|n| n.get().min(8))
        .unwrap_or(1);
    if workers < 2 || planned.len() < PARALLEL_FROM {
        return planned.into_iter().map(one).collect();
    }
    let size = planned.len().div_ceil(workers);
    let mut chunks = Vec::with_capacity(workers);
    while planned.len() > size {
        chunks.push(planned.split_off(planned.len() - size));
    }
    chunks.push(planned);
    chunks.reverse();
    std::thread::scope(|s| {
        let handles: Vec<_> = chunks
            .into_iter()
            .map(|part| s.spawn(move || part.into_iter().map(one).collect::<Vec<_>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("a render worker panicked"))
            .collect()
    })
}

fn render_one(
    templates: &Templates,
    p: context::Planned<'_>,
    ns: &str,
) -> Result<(String, ObjectRef), RenderError> {
    let text = templates.render(p.template, &(p.context)())?;
    let doc = postcheck::parse_one(&p.file, &text)?;
    postcheck::check(
        &doc,
        &postcheck::Expect {
            file: &p.file,
            api_version: p.api_version,
            kind: p.kind,
            name: &p.name,
            namespace: Some(ns),
        },
    )?;
    drop(doc);
    let object = ObjectRef {
        file: p.file,
        api_version: p.api_version.into(),
        kind: p.kind.into(),
        name: p.name,
        service: p.service,
    };
    Ok((text, object))
}

/// Enabled services that have no catalog entry, in deploy.json order.
pub fn missing_digests(lane: &Lane, catalog: &Catalog) -> Vec<String> {
    lane.intent()
        .enabled_services()
        .filter(|s| !catalog.services.contains_key(s.id.as_str()))
        .map(|s| s.id.to_string())
        .collect()
}

/// Render the runtime tree for `lane` pinned to `catalog`'s digests.
pub fn render_tree(lane: &Lane, catalog: &Catalog) -> Result<RenderedTree, RenderError> {
    render_tree_with(lane, catalog, Templates::embedded())
}

/// [`render_tree`] with a given template set.
pub fn render_tree_with(
    lane: &Lane,
    catalog: &Catalog,
    templates: &Templates,
) -> Result<RenderedTree, RenderError> {
    let planned = context::plan(lane, catalog)?;
    let ns = lane.names.namespace.as_str();
    let mut files = BTreeMap::new();
    let mut objects = Vec::with_capacity(planned.len());
    for done in render_all(templates, planned, ns) {
        let (text, object) = done?;
        if files.insert(object.file.clone(), text).is_some() {
            return Err(RenderError::Intent {
                path: "$".into(),
                rule: "duplicate-object",
                message: format!(
                    "two objects render to {} ({} '{}'); names must be unique per kind",
                    object.file, object.kind, object.name
                ),
            });
        }
        objects.push(object);
    }
    objects.sort_by(|a, b| a.file.cmp(&b.file));
    let resources: Vec<String> = files.keys().cloned().collect();
    let text = templates.render(KUSTOMIZATION, &context::kustomization(&resources))?;
    let doc = postcheck::parse_one(KUSTOMIZATION, &text)?;
    postcheck::check(
        &doc,
        &postcheck::Expect {
            file: KUSTOMIZATION,
            api_version: "kustomize.config.k8s.io/v1beta1",
            kind: "Kustomization",
            name: "",
            namespace: None,
        },
    )?;
    postcheck::check_kustomization(&doc, KUSTOMIZATION, &resources)?;
    files.insert(KUSTOMIZATION.to_string(), text);
    Ok(RenderedTree { files, objects })
}
