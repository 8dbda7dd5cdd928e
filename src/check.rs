//! `refguard check`: the engine over manifest files.

use std::process::ExitCode;

use crate::cli::{CheckArgs, RulesArgs};

pub fn run(args: &CheckArgs) -> ExitCode {
    let _ = args;
    ExitCode::from(2)
}

pub fn print_rules(args: &RulesArgs) -> ExitCode {
    let _ = args;
    ExitCode::SUCCESS
}
