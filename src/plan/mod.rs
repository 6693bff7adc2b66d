//! `lane plan` (not implemented yet).

use crate::error::Failure;
use crate::output::Outcome;

#[derive(Debug, Clone, clap::Args)]
pub struct PlanArgs {}

pub fn run(_args: &PlanArgs) -> Result<Outcome, Failure> {
    Err(Failure::not_implemented("plan"))
}
