//! The webhook's informer cache: watches keep an [`crate::engine::World`] current.
