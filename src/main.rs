//! `lane`: parse arguments, run one subcommand, print one JSON document, exit with a stable code.

use std::io::Write;

use clap::{CommandFactory, FromArgMatches};

use lane::cli::{Cli, Command};
use lane::output;

// mimalloc instead of the system allocator: the task image is a static musl binary, and
// musl's allocator is several times slower under render's many small allocations
// (docs/decisions.md).
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let parsed = Cli::command()
        .try_get_matches()
        .and_then(|m| Cli::from_arg_matches(&m).map(|cli| (cli, m)));
    let cli = match parsed {
        Ok((mut cli, matches)) => {
            // Run below the repository root, defaulted paths still mean the project's.
            lane::workspace::rebase_defaults(&mut cli.command, &matches);
            cli
        }
        Err(e) => {
            // A usage error is a JSON document like every other failure (exit 2); --help and
            // --version print as usual (exit 0).
            let args: Vec<String> = std::env::args_os()
                .skip(1)
                .map(|a| a.to_string_lossy().into_owned())
                .collect();
            let cmd = Cli::command();
            let names: Vec<&str> = cmd.get_subcommands().map(|s| s.get_name()).collect();
            std::process::exit(output::usage_error(e, &args, &names));
        }
    };
    output::set_quiet(cli.quiet);
    let name = cli.command.name();
    // Only status writes a page; every other command answers --output html with a usage error.
    if cli.output == output::Format::Html && !matches!(cli.command, Command::Status(_)) {
        let f = lane::error::UsageError {
            message: format!(
                "--output html is only for `lane status`; `lane {name}` prints json or text"
            ),
            hint: "pass --output json or --output text".into(),
            details: None,
        };
        std::process::exit(output::finish(name, output::Format::Json, Err(f.into())));
    }
    let result = match &cli.command {
        Command::Validate(a) => lane::validate::run(a),
        Command::Plan(a) => lane::plan::run(a),
        Command::Publish(a) => lane::publish::run(a),
        Command::Render(a) => lane::render::run(a),
        Command::Promote(a) => lane::promote::run(a),
        Command::Verify(a) => lane::verify::run(a),
        Command::Generate(a) => lane::generate::run(a),
        Command::Prune(a) => lane::prune::run(a),
        Command::Rollback(a) => lane::rollback::run(a),
        Command::Status(a) => lane::status::run(a, cli.output),
        // Scripts and roff for packagers: printed as they are, not inside a JSON document.
        Command::Completions(a) => raw(Ok(lane::manual::completions(a))),
        Command::Man(a) => match &a.dir {
            Some(dir) => lane::manual::write_pages(dir),
            None => raw(lane::manual::page(a.subcommand.as_deref())),
        },
    };
    std::process::exit(output::finish(name, cli.output, result));
}

/// Print a generated script or page on stdout and exit 0; a failure goes through the usual
/// document.
fn raw(
    bytes: Result<Vec<u8>, lane::error::Failure>,
) -> Result<output::Outcome, lane::error::Failure> {
    let bytes = bytes?;
    let mut out = std::io::stdout().lock();
    if out.write_all(&bytes).and_then(|()| out.flush()).is_err() {
        std::process::exit(3);
    }
    std::process::exit(0);
}
