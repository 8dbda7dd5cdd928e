//! The Kubernetes and Gateway API objects that refguard reads, reduced to the fields its rules
//! need.
//!
//! Why not the generated types of the `gateway-api` crate: they describe one release, while a
//! cluster may serve any of Gateway API v1.0 to v1.6. This module reads every shape those
//! releases define for TLS:
//!
//! - `Gateway` (v1 and v1beta1): `spec.listeners[].tls` (certificateRefs, options, and the
//!   experimental `frontendValidation` of v1.1-v1.3), `spec.tls.frontend` (v1.4+),
//!   `spec.tls.backend` (v1.4+) and `spec.backendTLS` (v1.2-v1.3).
//! - `ListenerSet` (`gateway.networking.k8s.io/v1`, v1.5+) and `XListenerSet`
//!   (`gateway.networking.x-k8s.io/v1alpha1`, v1.3-v1.4).
//! - `ReferenceGrant` (v1beta1 everywhere, v1 from v1.5; same shape).
//!
//! Parsing is lenient about fields we do not use (unknown fields are ignored) and strict about
//! the ones we do: a listener whose `port` is a string is a parse error, reported by the caller
//! as "not checked" rather than guessed at.

mod gateway;
mod grant;
mod object;
mod secret;

pub use gateway::{
    BackendTls, CaCertificateRef, FrontendTls, FrontendValidation, Gateway, Listener, ListenerSet,
    ListenerTls, ParentRef, PerPortFrontend, SecretRef, TlsMode,
};
pub use grant::{GrantFrom, GrantTo, ReferenceGrant};
pub use object::{Kind, ObjectKey, ObjectRef, ParseError};
pub use secret::{
    CaBundleFacts, CertificateFacts, ConfigMapFacts, KeyMatch, KeyPairFacts, SecretFacts, SecretKey,
};

/// API group of the standard Gateway API kinds.
pub const GATEWAY_GROUP: &str = "gateway.networking.k8s.io";

/// API group of the experimental `X`-prefixed kinds.
pub const EXPERIMENTAL_GROUP: &str = "gateway.networking.x-k8s.io";
