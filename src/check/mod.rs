//! `refguard check`: the engine over manifest files, for CI pipelines.
//!
//! Exit codes: 0 when no finding is a denial, 1 when any is, 2 for unreadable input or bad
//! usage.

pub mod loader;
mod output;

use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::cli::{CheckArgs, OutputFormat, RulesArgs};
use crate::engine::{self, catalogue, Change, Context, Finding, RulesConfig, Severity};

pub use loader::{load, LoadError, Manifests};

/// Runs `refguard check` and returns its exit code.
pub fn run(args: &CheckArgs) -> ExitCode {
    let config = match load_config(args) {
        Ok(config) => config,
        Err(message) => return usage_error(&message),
    };

    let manifests = match loader::load(&args.paths, &args.namespace) {
        Ok(manifests) => manifests,
        Err(error) => return usage_error(&error.to_string()),
    };

    let findings = review_all(&manifests, &config, now());
    print(args, &manifests, &findings);

    if findings
        .iter()
        .any(|finding| finding.severity == Severity::Deny)
    {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// Reviews every Gateway, ListenerSet and ReferenceGrant read as if it were being created
/// into a cluster that holds everything else that was read.
pub fn review_all(manifests: &Manifests, config: &RulesConfig, now: i64) -> Vec<Finding> {
    let context = Context {
        world: &manifests.world,
        config,
        now,
    };
    let gateways = manifests.gateways.iter().map(|gateway| Change::Gateway {
        new: gateway,
        old: None,
    });
    let listener_sets = manifests
        .listener_sets
        .iter()
        .map(|set| Change::ListenerSet {
            new: set,
            old: None,
        });
    let grants = manifests.grants.iter().map(|grant| Change::ReferenceGrant {
        new: Some(grant),
        old: None,
    });

    gateways
        .chain(listener_sets)
        .chain(grants)
        .flat_map(|change| engine::review(&change, &context))
        .collect()
}

/// The config file, if any, with `--implementation` taking precedence over its profile.
fn load_config(args: &CheckArgs) -> Result<RulesConfig, String> {
    let mut config = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|error| format!("{}: {error}", path.display()))?;
            RulesConfig::from_yaml(&text).map_err(|error| format!("{}: {error}", path.display()))?
        }
        None => RulesConfig::default(),
    };
    if let Some(profile) = &args.implementation {
        config.implementation = profile
            .parse()
            .map_err(|error| format!("--implementation: {error}"))?;
    }
    Ok(config)
}

fn print(args: &CheckArgs, manifests: &Manifests, findings: &[Finding]) {
    let rendered = match args.output {
        OutputFormat::Json => output::json(findings),
        OutputFormat::Text => {
            let stdout = std::io::stdout();
            let colour = stdout.is_terminal() && std::env::var_os("NO_COLOR").is_none();
            let summary = output::Summary {
                objects_read: manifests.objects_read,
                files: manifests.files,
            };
            output::text(findings, &summary, colour)
        }
    };
    print!("{rendered}");
}

fn usage_error(message: &str) -> ExitCode {
    eprintln!("refguard check: {message}");
    ExitCode::from(2)
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs() as i64)
}

/// Runs `refguard rules`: the catalogue as a table, or as the Markdown of docs/rules.md.
pub fn print_rules(args: &RulesArgs) -> ExitCode {
    if args.markdown {
        print!("{}", catalogue::markdown());
        return ExitCode::SUCCESS;
    }

    let width = catalogue::RULES
        .iter()
        .map(|rule| rule.id.len())
        .max()
        .unwrap_or(4);
    println!(
        "{:<width$}  {:<5}  {:<30}  APPLIES TO",
        "RULE", "LEVEL", "REASON"
    );
    for rule in catalogue::RULES {
        println!(
            "{:<width$}  {:<5}  {:<30}  {}",
            rule.id,
            rule.default_severity.as_str(),
            rule.reason.as_str(),
            rule.applies_to()
        );
    }
    ExitCode::SUCCESS
}
