//! The rule catalogue: every rule's id, reason, default severity, the implementations and
//! versions it applies to, and its source. `docs/rules.md` is generated from this table
//! (`refguard rules --markdown`) and a test fails when the two differ.

use super::finding::{Reason, Severity};

/// One entry of the catalogue.
#[derive(Clone, Copy, Debug)]
pub struct Rule {
    /// Stable id; appears in warnings as `[id]` and in config files.
    pub id: &'static str,
    pub reason: Reason,
    pub default_severity: Severity,
    /// Where it applies, for people: `all`, or e.g. `istio 1.16.0 - 1.25.x`.
    pub applies_to: &'static str,
    /// What it catches, in one sentence.
    pub summary: &'static str,
    /// Where the behaviour is documented: spec page, issue or source file.
    pub source: &'static str,
}

/// Every rule refguard knows. Ids are stable: renaming one breaks users' config files.
pub static RULES: &[Rule] = &[];

/// Looks a rule up by id.
pub fn rule(id: &str) -> Option<&'static Rule> {
    RULES.iter().find(|rule| rule.id == id)
}
