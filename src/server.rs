//! The admission webhook server (`refguard serve`).

use std::process::ExitCode;

use crate::cli::ServeArgs;

/// Runs the webhook until SIGTERM or SIGINT.
pub fn run(args: ServeArgs) -> ExitCode {
    let _ = args;
    eprintln!("refguard serve: not implemented yet");
    ExitCode::from(2)
}
