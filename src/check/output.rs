//! How `refguard check` prints findings: JSON for machines, grouped text for people.

use std::fmt::Write as _;

use serde::Serialize;

use crate::engine::{Finding, Severity};
use crate::model::ObjectRef;

/// The `-o json` document: `{"findings": [...]}`.
#[derive(Serialize)]
struct Report<'a> {
    findings: Vec<JsonFinding<'a>>,
}

#[derive(Serialize)]
struct JsonFinding<'a> {
    rule: &'a str,
    reason: &'a str,
    severity: &'a str,
    object: &'a ObjectRef,
    listener: Option<&'a str>,
    field: &'a str,
    message: &'a str,
}

pub fn json(findings: &[Finding]) -> String {
    let report = Report {
        findings: findings
            .iter()
            .map(|finding| JsonFinding {
                rule: finding.rule,
                reason: finding.reason.as_str(),
                severity: finding.severity.as_str(),
                object: &finding.object,
                listener: finding.listener.as_deref(),
                field: &finding.field,
                message: &finding.message,
            })
            .collect(),
    };
    let mut text = serde_json::to_string_pretty(&report).expect("findings always serialise");
    text.push('\n');
    text
}

/// Counts for the closing line of the text output.
pub struct Summary {
    pub objects_read: usize,
    pub files: usize,
}

/// Findings grouped by object, deny first within each object, then a closing line. `colour`
/// adds ANSI colours (only on a terminal, and not when NO_COLOR is set).
pub fn text(findings: &[Finding], summary: &Summary, colour: bool) -> String {
    let paint = |code: &str, text: &str| {
        if colour {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    };

    let mut sorted: Vec<&Finding> = findings.iter().collect();
    sorted
        .sort_by(|a, b| (&a.object, a.severity, &a.field).cmp(&(&b.object, b.severity, &b.field)));

    let mut out = String::new();
    let mut current: Option<&ObjectRef> = None;
    for finding in sorted {
        if current != Some(&finding.object) {
            if current.is_some() {
                out.push('\n');
            }
            let _ = writeln!(out, "{}", paint("1", &finding.object.to_string()));
            current = Some(&finding.object);
        }
        let label = match finding.severity {
            Severity::Deny => paint("31;1", "deny"),
            Severity::Warn => paint("33", "warn"),
        };
        let _ = writeln!(out, "  {label} [{}] {}", finding.rule, finding.message);
        let _ = writeln!(out, "       at {} ({})", finding.field, finding.reason);
    }

    let denied = findings
        .iter()
        .filter(|f| f.severity == Severity::Deny)
        .count();
    let warned = findings.len() - denied;
    if !findings.is_empty() {
        out.push('\n');
    }
    let verdict = if denied > 0 {
        paint("31;1", "FAIL")
    } else {
        paint("32;1", "OK")
    };
    let _ = writeln!(
        out,
        "{verdict}: {}, {}; {} read from {}",
        plural(denied, "denial", "denials"),
        plural(warned, "warning", "warnings"),
        plural(summary.objects_read, "object", "objects"),
        plural(summary.files, "file", "files"),
    );
    out
}

fn plural(count: usize, one: &str, many: &str) -> String {
    format!("{count} {}", if count == 1 { one } else { many })
}
