//! `lane promote` (not implemented yet).

use crate::error::Failure;
use crate::output::Outcome;

#[derive(Debug, Clone, clap::Args)]
pub struct PromoteArgs {}

pub fn run(_args: &PromoteArgs) -> Result<Outcome, Failure> {
    Err(Failure::not_implemented("promote"))
}
