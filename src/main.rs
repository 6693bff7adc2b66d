//! `lane`: parse arguments, run one subcommand, print one JSON document, exit with a stable code.

use clap::Parser;

use lane::cli::{Cli, Command};
use lane::output;

// mimalloc instead of the system allocator: the task image is a static musl binary, and
// musl's allocator is several times slower under render's many small allocations
// (docs/decisions.md).
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let cli = Cli::parse();
    output::set_quiet(cli.quiet);
    let name = cli.command.name();
    let result = match &cli.command {
        Command::Validate(a) => lane::validate::run(a),
        Command::Plan(a) => lane::plan::run(a),
        Command::Publish(a) => lane::publish::run(a),
        Command::Render(a) => lane::render::run(a),
        Command::Promote(a) => lane::promote::run(a),
        Command::Verify(a) => lane::verify::run(a),
        Command::Generate(a) => lane::generate::run(a),
    };
    std::process::exit(output::finish(name, cli.output, result));
}
