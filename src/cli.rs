//! Command-line definition. Each subcommand's flags live with its module.

use clap::{Parser, Subcommand};

use crate::output::Format;

pub const EXIT_CODES: &str = "\
Output: one JSON document on stdout (`--output text` for people), progress on stderr.

Exit codes:
  0  success
  1  a check failed or input was rejected (the document says which and why)
  2  usage error (bad flags or arguments)
  3  environment error: network, registry, git server, Kubernetes API, filesystem
  4  internal error (a bug in lane)";

#[derive(Debug, Parser)]
#[command(
    name = "lane",
    version,
    about = "Version-lane CI/CD on Kubernetes with pure Tekton and Argo CD",
    long_about = "lane runs one version lane (e.g. v0.1) of a project: `plan` decides which services \
must be built, `publish` proves each image's pullable digest, `render` writes the digest-pinned \
runtime tree, `promote` commits catalog and tree to the GitOps branch, and `verify` judges the release. \
Each subcommand is one Tekton step.",
    after_help = EXIT_CODES
)]
pub struct Cli {
    /// Output format of the result document on stdout.
    #[arg(long, global = true, value_enum, default_value_t = Format::Json, env = "LANE_OUTPUT")]
    pub output: Format,
    /// No progress lines on stderr.
    #[arg(long, short, global = true)]
    pub quiet: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check a deploy.json (default deploy/deploy.json) or a catalog; print findings and the
    /// resolved lane names.
    Validate(crate::validate::ValidateArgs),
    /// Decide per service: affected (build), reused (keep catalog digest), pin, excluded,
    /// unsupported.
    Plan(crate::plan::PlanArgs),
    /// Resolve and prove each image's schema2/OCI digest in the registry.
    Publish(crate::publish::PublishArgs),
    /// Render the digest-pinned runtime tree; `--no-write` is the local dry-run.
    Render(crate::render::RenderArgs),
    /// Commit the refreshed catalog and rendered tree to the GitOps branch (never the source
    /// branch), race-safe.
    Promote(crate::promote::PromoteArgs),
    /// Return one service, or the whole lane, to an earlier release (a GitOps commit) through
    /// the same compare-and-swap as promote; recorded as `rolled-back` in the catalog.
    Rollback(Box<crate::rollback::RollbackArgs>),
    /// Judge a release: live runtime, Argo CD, GitOps branch, Tekton evidence, clean source.
    Verify(Box<crate::verify::VerifyArgs>),
    /// Generate the Tekton Tasks/Pipeline/Triggers and Argo CD bootstrap from deploy.json.
    Generate(crate::generate::GenerateArgs),
    /// Delete a Pipeline's older finished PipelineRuns (and so their per-run volumes), keeping
    /// the newest; runs not finished are never touched.
    Prune(crate::prune::PruneArgs),
    /// Where each service of a lane stands: source → catalog → GitOps → Argo CD → live, and
    /// the last PipelineRun (`--output text|html FILE`, `--watch`).
    Status(Box<crate::status::StatusArgs>),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell) on stdout.
    Completions(crate::manual::CompletionsArgs),
    /// Print the man page (roff) on stdout, or write every page with --dir.
    Man(crate::manual::ManArgs),
}

impl Command {
    pub fn name(&self) -> &'static str {
        match self {
            Command::Validate(_) => "validate",
            Command::Plan(_) => "plan",
            Command::Publish(_) => "publish",
            Command::Render(_) => "render",
            Command::Promote(_) => "promote",
            Command::Verify(_) => "verify",
            Command::Generate(_) => "generate",
            Command::Prune(_) => "prune",
            Command::Rollback(_) => "rollback",
            Command::Status(_) => "status",
            Command::Completions(_) => "completions",
            Command::Man(_) => "man",
        }
    }
}
