use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = refguard::cli::Cli::parse();
    match cli.command {
        refguard::cli::Command::Check(args) => refguard::check::run(&args),
        refguard::cli::Command::Rules(args) => refguard::check::print_rules(&args),
        refguard::cli::Command::Serve(args) => refguard::server::run(args),
    }
}
