//! `lane generate` (not implemented yet).

use crate::error::Failure;
use crate::output::Outcome;

#[derive(Debug, Clone, clap::Args)]
pub struct GenerateArgs {}

pub fn run(_args: &GenerateArgs) -> Result<Outcome, Failure> {
    Err(Failure::not_implemented("generate"))
}
