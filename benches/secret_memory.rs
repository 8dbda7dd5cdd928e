//! Heap held by the webhook's cache per TLS Secret.
//!
//! A counting global allocator measures how much the [`World`] grows while 10,000 Secrets of
//! type `kubernetes.io/tls` (real certificate and key data, realistic names, spread over 200
//! namespaces) go through the same path as a watch event: data to facts with `pki`, then into
//! the cache. Run with `cargo bench --bench secret_memory`; the target is under 2 KiB each.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use refguard::cache::{Cache, CacheMetrics, Entry, Update, WatchState};
use refguard::model::{Kind, ObjectKey};

/// Counts live heap bytes; everything else is the system allocator.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded unchanged to `System`; only a counter is updated besides.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(new_size, Ordering::Relaxed);
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const SECRETS: usize = 10_000;
const NAMESPACES: usize = 200;
const APPS: [&str; 8] = [
    "checkout-api",
    "payments-gateway",
    "storefront",
    "identity-provider",
    "search",
    "inventory-service",
    "notifications",
    "admin-console",
];

fn main() {
    let pair = rcgen::generate_simple_self_signed(vec!["storefront.shop.example.com".to_owned()])
        .expect("rcgen generates a certificate");
    let cert = pair.cert.pem();
    let key = pair.signing_key.serialize_pem();

    let cache = Cache::new(CacheMetrics::default());
    cache.readiness().expect(1);
    let mut watch = WatchState::new(Kind::Secret, None);
    watch.apply(&cache, Update::Init);
    watch.apply(&cache, Update::InitDone);

    let before = LIVE.load(Ordering::SeqCst);
    for i in 0..SECRETS {
        let namespace = format!("team-{:03}", i % NAMESPACES);
        let name = format!("{}-tls-{:05x}", APPS[i % APPS.len()], i * 7919 % 0xfffff);
        let facts = refguard::pki::secret_facts(
            "kubernetes.io/tls",
            [
                ("tls.crt", cert.as_bytes()),
                ("tls.key", key.as_bytes()),
                ("ca.crt", cert.as_bytes()),
            ],
        );
        let entry = Entry::Secret(ObjectKey::new(namespace, name), facts);
        watch.apply(&cache, Update::Apply(entry));
    }
    let after = LIVE.load(Ordering::SeqCst);

    let held = cache.read().counts();
    let secrets = held
        .iter()
        .find(|(kind, _)| *kind == Kind::Secret)
        .map_or(0, |(_, count)| *count);
    assert_eq!(secrets, SECRETS, "every Secret is cached");

    let total = after.saturating_sub(before);
    println!(
        "secret_memory: {SECRETS} TLS Secrets in {NAMESPACES} namespaces: {total} bytes of heap, \
         {:.0} bytes per Secret (target < 2048)",
        total as f64 / SECRETS as f64
    );
}
