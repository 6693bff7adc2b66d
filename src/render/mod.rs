//! `lane render` (not implemented yet).

use crate::error::Failure;
use crate::output::Outcome;

#[derive(Debug, Clone, clap::Args)]
pub struct RenderArgs {}

pub fn run(_args: &RenderArgs) -> Result<Outcome, Failure> {
    Err(Failure::not_implemented("render"))
}
