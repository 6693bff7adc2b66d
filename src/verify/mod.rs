//! `lane verify` (not implemented yet).

use crate::error::Failure;
use crate::output::Outcome;

#[derive(Debug, Clone, clap::Args)]
pub struct VerifyArgs {}

pub fn run(_args: &VerifyArgs) -> Result<Outcome, Failure> {
    Err(Failure::not_implemented("verify"))
}
