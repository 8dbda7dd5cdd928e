//! refguard: stops Gateway API writes whose TLS references the gateway could not read.
//!
//! Architecture, from the inside out:
//! - [`model`]: the Kubernetes and Gateway API objects, reduced to what the rules read.
//! - [`pki`]: turns certificate and key data into facts, so no key material is kept.
//! - [`engine`]: the rules; pure functions of a change, a [`engine::World`] and a config.
//! - [`check`]: the offline front end, manifest files in, findings out.
//! - [`cache`]: the webhook's informer cache, a [`engine::World`] kept current by watches.
//! - [`server`]: the HTTPS admission endpoint, health and metrics.
#![forbid(unsafe_code)]

pub mod cache;
pub mod check;
pub mod cli;
pub mod engine;
pub mod model;
pub mod pki;
pub mod server;
