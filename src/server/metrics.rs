//! Review metrics. Every label takes values from a fixed set: resource kinds, operations,
//! verdicts and the rule ids of the catalogue; never object names.

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use super::review::{Outcome, Verdict};
use crate::engine::Severity;
use crate::model::Kind;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReviewLabels {
    /// The reviewed kind; `other` for kinds refguard does not review.
    kind: &'static str,
    operation: &'static str,
    verdict: Verdict,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FindingLabels {
    rule: &'static str,
    severity: SeverityLabel,
}

#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
enum SeverityLabel {
    deny,
    warn,
}

#[derive(Debug)]
pub struct ReviewMetrics {
    reviews: Family<ReviewLabels, Counter>,
    findings: Family<FindingLabels, Counter>,
    latency: Histogram,
}

impl Default for ReviewMetrics {
    fn default() -> Self {
        // 50µs to ~3s: reviews are answered from memory, the tail is lock waits and big bodies.
        let buckets = prometheus_client::metrics::histogram::exponential_buckets(0.00005, 3.0, 11);
        Self {
            reviews: Family::default(),
            findings: Family::default(),
            latency: Histogram::new(buckets),
        }
    }
}

impl ReviewMetrics {
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = Self::default();
        registry.register(
            "refguard_reviews",
            "Admission reviews answered, by kind, operation and verdict",
            metrics.reviews.clone(),
        );
        registry.register(
            "refguard_findings",
            "Findings reported in admission replies, by rule id and severity",
            metrics.findings.clone(),
        );
        registry.register(
            "refguard_review_duration_seconds",
            "Time to answer one admission review, from body read to reply",
            metrics.latency.clone(),
        );
        metrics
    }

    pub fn record(&self, outcome: &Outcome, seconds: f64) {
        let labels = ReviewLabels {
            kind: outcome.kind.map_or("other", Kind::as_str),
            operation: outcome.operation,
            verdict: outcome.verdict,
        };
        self.reviews.get_or_create(&labels).inc();
        for finding in &outcome.findings {
            let severity = match finding.severity {
                Severity::Deny => SeverityLabel::deny,
                Severity::Warn => SeverityLabel::warn,
            };
            self.findings
                .get_or_create(&FindingLabels {
                    rule: finding.rule,
                    severity,
                })
                .inc();
        }
        self.latency.observe(seconds);
    }
}
