//! Heap that one review takes while it is read: the body plus the parsed `object` and
//! `oldObject`, the figure behind `--max-body-mib-in-flight` (docs/webhook.md, Limits).
//!
//! A counting global allocator records the peak of live heap bytes while a body is parsed by
//! `read_review`, for bodies near the API server's largest (two objects of about 3 MiB): one
//! made of a single long string and one made of many small annotations, which JSON values
//! store least compactly. Run with `cargo bench --bench review_memory`; it prints the peak
//! relative to the body size.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use refguard::server::admission::read_review;
use serde_json::{json, Value};

/// Counts live heap bytes and their peak; everything else is the system allocator.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(bytes: usize) {
    let live = LIVE.fetch_add(bytes, Ordering::Relaxed) + bytes;
    PEAK.fetch_max(live, Ordering::Relaxed);
}

// SAFETY: every call is forwarded unchanged to `System`; only counters are updated besides.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        grew(layout.size());
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        grew(new_size);
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const OBJECT_BYTES: usize = 3 << 20;

/// An UPDATE review of a Gateway whose `object` and `oldObject` each carry `padding`.
fn review(padding: Value) -> Vec<u8> {
    let gateway = json!({
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "Gateway",
        "metadata": {"name": "edge", "namespace": "apps", "annotations": padding},
        "spec": {"gatewayClassName": "istio", "listeners": [{
            "name": "https", "port": 443, "protocol": "HTTPS",
            "tls": {"certificateRefs": [{"name": "web-tls"}]}
        }]}
    });
    let review = json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "5d8e7a3c-1f0b-4c62-8a55-2f3e9d7c1a01",
            "kind": {"group": "gateway.networking.k8s.io", "version": "v1", "kind": "Gateway"},
            "name": "edge", "namespace": "apps", "operation": "UPDATE",
            "object": gateway, "oldObject": gateway,
        }
    });
    serde_json::to_vec(&review).expect("serialises")
}

fn one_long_string() -> Value {
    json!({"padding": "p".repeat(OBJECT_BYTES)})
}

fn many_small_annotations() -> Value {
    // `"k123456":"v",` is 14 bytes.
    let map: serde_json::Map<String, Value> = (0..OBJECT_BYTES / 14)
        .map(|i| (format!("k{i:06}"), json!("v")))
        .collect();
    Value::Object(map)
}

fn measure(name: &str, body: &[u8]) {
    let before = LIVE.load(Ordering::Relaxed);
    PEAK.store(before, Ordering::Relaxed);

    let review = read_review(body).unwrap_or_else(|_| panic!("{name}: review reads"));
    let held = LIVE.load(Ordering::Relaxed) - before;
    let peak = PEAK.load(Ordering::Relaxed) - before;
    drop(review);

    let mib = |bytes: usize| bytes as f64 / (1024.0 * 1024.0);
    println!(
        "{name:<24} body {:>5.2} MiB  parsed review held {:>6.2} MiB ({:.2}x body)  peak while parsing {:>6.2} MiB ({:.2}x body)",
        mib(body.len()),
        mib(held),
        held as f64 / body.len() as f64,
        mib(peak),
        peak as f64 / body.len() as f64,
    );
}

fn main() {
    for (name, padding) in [
        ("one long string", one_long_string()),
        ("many small annotations", many_small_annotations()),
    ] {
        let body = review(padding);
        measure(name, &body);
    }
}
