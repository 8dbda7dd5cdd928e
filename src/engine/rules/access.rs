//! Whether a Gateway or ListenerSet may read an object in another namespace: ReferenceGrants,
//! read the way the spec says and the way an implementation actually reads them.

use crate::model::{Kind, ObjectKey, ReferenceGrant};

use super::super::catalogue::{self, ISTIO_GRANT_TO_ENTRY_IGNORED};
use super::super::profile::Implementation;
use super::super::world::World;
use super::from_group;

/// The ReferenceGrants the rules see. Normally the world's; for a grant UPDATE or DELETE the
/// same world with that one grant replaced or removed, so "after the change" is evaluated
/// without mutating the shared [`World`] (which holds the state before the change).
#[derive(Clone, Copy)]
pub(crate) struct GrantView<'a> {
    world: &'a World,
    replaced: Option<(&'a ObjectKey, Option<&'a ReferenceGrant>)>,
}

impl<'a> GrantView<'a> {
    pub fn current(world: &'a World) -> Self {
        Self {
            world,
            replaced: None,
        }
    }

    /// The world's grants with the grant at `key` replaced by `grant` (`None`: deleted).
    pub fn replacing(
        world: &'a World,
        key: &'a ObjectKey,
        grant: Option<&'a ReferenceGrant>,
    ) -> Self {
        Self {
            world,
            replaced: Some((key, grant)),
        }
    }

    /// Grants in `namespace`, as this view sees them.
    pub fn grants_in(&self, namespace: &'a str) -> impl Iterator<Item = &'a ReferenceGrant> + 'a {
        let replaced = self.replaced;
        let kept = self
            .world
            .grants_in(namespace)
            .filter(move |grant| replaced.is_none_or(|(key, _)| grant.key != *key));
        let added = replaced.and_then(|(key, grant)| grant.filter(|_| key.namespace == namespace));
        kept.chain(added)
    }
}

/// The object a reference points at.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Target<'a> {
    pub group: &'a str,
    pub kind: &'a str,
    pub namespace: &'a str,
    pub name: &'a str,
}

impl<'a> Target<'a> {
    /// An object of the core group, where every target refguard reads lives.
    pub fn core(kind: &'a str, namespace: &'a str, name: &'a str) -> Self {
        Self {
            group: "",
            kind,
            namespace,
            name,
        }
    }
}

/// Who refers: the holder's kind decides the grant's `from` entry.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Referrer<'a> {
    pub kind: Kind,
    pub namespace: &'a str,
}

/// Whether the spec lets `from` read `target`: same namespace, or a grant in the target's
/// namespace with a matching `from` and `to` entry.
pub(crate) fn permitted_by_spec(
    view: &GrantView<'_>,
    from: Referrer<'_>,
    target: Target<'_>,
) -> bool {
    if from.namespace == target.namespace {
        return true;
    }
    view.grants_in(target.namespace).any(|grant| {
        grant.permits(
            from_group(from.kind),
            from.kind.as_str(),
            from.namespace,
            target.group,
            target.kind,
            target.name,
        )
    })
}

/// Whether the implementation lets `from` read `target`. Differs from the spec only where an
/// implementation is known to read grants differently (Istio 1.26-1.29 honours one `to` entry
/// per kind).
pub(crate) fn permitted(
    view: &GrantView<'_>,
    implementation: Implementation,
    from: Referrer<'_>,
    target: Target<'_>,
) -> bool {
    if !permitted_by_spec(view, from, target) {
        return false;
    }
    if from.namespace == target.namespace || !shadows_to_entries(implementation) {
        return true;
    }
    view.grants_in(target.namespace)
        .any(|grant| last_entry_permits(grant, from, target))
}

/// Whether the implementation keeps only the last `to` entry of each kind in a grant.
pub(crate) fn shadows_to_entries(implementation: Implementation) -> bool {
    catalogue::applies(implementation, &ISTIO_GRANT_TO_ENTRY_IGNORED)
}

/// A grant read as Istio 1.26-1.29 reads it: its grants are stored per (grant, from, to kind)
/// without the `to` name, so a later entry of the same kind overwrites earlier ones.
fn last_entry_permits(grant: &ReferenceGrant, from: Referrer<'_>, target: Target<'_>) -> bool {
    let from_matches = grant.from.iter().any(|entry| {
        entry.group == from_group(from.kind)
            && entry.kind == from.kind.as_str()
            && entry.namespace == from.namespace
    });
    let last_of_kind = grant
        .to
        .iter()
        .rfind(|entry| entry.group == target.group && entry.kind == target.kind);
    let to_matches = last_of_kind.is_some_and(|entry| {
        entry
            .name
            .as_deref()
            .is_none_or(|name| name.is_empty() || name == target.name)
    });
    from_matches && to_matches
}

#[cfg(test)]
mod tests {
    use crate::model::{GrantFrom, GrantTo};

    use super::*;

    fn grant(namespace: &str, name: &str, to: &[(&str, Option<&str>)]) -> ReferenceGrant {
        ReferenceGrant {
            api_version: "gateway.networking.k8s.io/v1beta1".into(),
            key: ObjectKey::new(namespace, name),
            from: vec![GrantFrom {
                group: "gateway.networking.k8s.io".into(),
                kind: "Gateway".into(),
                namespace: "gw".into(),
            }],
            to: to
                .iter()
                .map(|(kind, name)| GrantTo {
                    group: String::new(),
                    kind: (*kind).into(),
                    name: name.map(str::to_owned),
                })
                .collect(),
        }
    }

    fn secret<'a>(name: &'a str) -> Target<'a> {
        Target {
            group: "",
            kind: "Secret",
            namespace: "app",
            name,
        }
    }

    const GATEWAY: Referrer<'static> = Referrer {
        kind: Kind::Gateway,
        namespace: "gw",
    };

    #[test]
    fn view_replaces_and_removes_one_grant() {
        let mut world = World::new();
        world.upsert_grant(grant("app", "g", &[("Secret", Some("a"))]));
        let key = ObjectKey::new("app", "g");
        let narrowed = grant("app", "g", &[("Secret", Some("b"))]);

        let before = GrantView::current(&world);
        let after = GrantView::replacing(&world, &key, Some(&narrowed));
        let deleted = GrantView::replacing(&world, &key, None);

        assert!(permitted_by_spec(&before, GATEWAY, secret("a")));
        assert!(!permitted_by_spec(&after, GATEWAY, secret("a")));
        assert!(permitted_by_spec(&after, GATEWAY, secret("b")));
        assert!(!permitted_by_spec(&deleted, GATEWAY, secret("a")));
    }

    #[test]
    fn istio_honours_only_the_last_to_entry_of_a_kind() {
        let mut world = World::new();
        world.upsert_grant(grant(
            "app",
            "g",
            &[("Secret", Some("first")), ("Secret", Some("last"))],
        ));
        let view = GrantView::current(&world);
        let istio = |text: &str| Implementation::Istio(text.parse().expect("version"));

        // (implementation, secret, permitted, what it shows)
        let cases = [
            (
                Implementation::GatewayApi,
                "first",
                true,
                "spec ORs the entries",
            ),
            (istio("1.25.5"), "first", true, "before the regression"),
            (istio("1.26.0"), "first", false, "first entry shadowed"),
            (istio("1.26.0"), "last", true, "last entry honoured"),
            (istio("1.29.9"), "first", false, "still broken in 1.29"),
            (istio("1.30.0"), "first", true, "fixed in 1.30.0"),
        ];
        for (implementation, name, expected, shows) in cases {
            assert_eq!(
                permitted(&view, implementation, GATEWAY, secret(name)),
                expected,
                "{shows}"
            );
        }
    }
}
