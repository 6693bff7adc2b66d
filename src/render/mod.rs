//! `lane render`: the digest-pinned runtime tree (filled in by the render work).
//!
//! API used by promote and verify: [`render_tree`] renders the lane's runtime directory from
//! the intent and a catalog, in memory, deterministically.

use std::collections::BTreeMap;

use crate::error::{Classified, ExitClass, Failure};
use crate::model::{Catalog, Lane};
use crate::output::Outcome;

/// The rendered runtime directory: path relative to the runtime path → file content.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RenderedTree {
    pub files: BTreeMap<String, String>,
}

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("service '{service}' takes part in the lane but has no digest in the catalog")]
    MissingDigest { service: String },
    #[error("render failed: {0}")]
    Template(String),
}

impl Classified for RenderError {
    fn class(&self) -> ExitClass {
        ExitClass::Rejected
    }
}

/// Render the runtime tree for `lane` pinned to `catalog`'s digests.
pub fn render_tree(_lane: &Lane, _catalog: &Catalog) -> Result<RenderedTree, RenderError> {
    Err(RenderError::Template(
        "render is not implemented yet".into(),
    ))
}

#[derive(Debug, Clone, clap::Args)]
pub struct RenderArgs {}

pub fn run(_args: &RenderArgs) -> Result<Outcome, Failure> {
    Err(Failure::not_implemented("render"))
}
