//! Cache metrics. Labels are object kinds only, a fixed set.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Instant;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::model::Kind;

impl EncodeLabelValue for Kind {
    fn encode(&self, encoder: &mut LabelValueEncoder<'_>) -> Result<(), std::fmt::Error> {
        EncodeLabelValue::encode(&self.as_str(), encoder)
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabel {
    pub kind: Kind,
}

#[derive(Debug, Default)]
pub struct CacheMetrics {
    objects: Family<KindLabel, Gauge>,
    last_event_age: Family<KindLabel, Gauge<f64, std::sync::atomic::AtomicU64>>,
    watch_errors: Family<KindLabel, Counter>,
    synced: Gauge,
    /// When each watched kind last saw an event (or started, before its first event).
    last_event: Mutex<BTreeMap<Kind, Instant>>,
}

impl CacheMetrics {
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = Self::default();
        registry.register(
            "refguard_cache_objects",
            "Objects held in the informer cache, per kind",
            metrics.objects.clone(),
        );
        registry.register(
            "refguard_watch_last_event_age_seconds",
            "Seconds since a watch of this kind last delivered an event",
            metrics.last_event_age.clone(),
        );
        registry.register(
            "refguard_watch_errors",
            "Errors returned by watches of this kind; each is retried with backoff",
            metrics.watch_errors.clone(),
        );
        registry.register(
            "refguard_cache_synced",
            "1 once every watch has completed its initial list",
            metrics.synced.clone(),
        );
        metrics
    }

    /// A watch of `kind` started: its age counts from now until the first event.
    pub fn watch_started(&self, kind: Kind) {
        self.touch(kind);
    }

    pub fn event(&self, kind: Kind) {
        self.touch(kind);
    }

    pub fn watch_error(&self, kind: Kind) {
        self.watch_errors.get_or_create(&KindLabel { kind }).inc();
    }

    fn touch(&self, kind: Kind) {
        self.last_event
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .insert(kind, Instant::now());
    }

    pub(super) fn refresh(&self, counts: &[(Kind, usize)], synced: bool) {
        for &(kind, count) in counts {
            let count = i64::try_from(count).unwrap_or(i64::MAX);
            self.objects.get_or_create(&KindLabel { kind }).set(count);
        }
        let last_event = self
            .last_event
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        for (&kind, at) in last_event.iter() {
            self.last_event_age
                .get_or_create(&KindLabel { kind })
                .set(at.elapsed().as_secs_f64());
        }
        self.synced.set(i64::from(synced));
    }
}
