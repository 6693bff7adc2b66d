//! `lane publish` (not implemented yet).

use crate::error::Failure;
use crate::output::Outcome;

#[derive(Debug, Clone, clap::Args)]
pub struct PublishArgs {}

pub fn run(_args: &PublishArgs) -> Result<Outcome, Failure> {
    Err(Failure::not_implemented("publish"))
}
