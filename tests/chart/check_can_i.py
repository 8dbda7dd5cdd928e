#!/usr/bin/env python3
"""Compares `kubectl auth can-i --list` output with what refguard's cache needs.

Usage: check_can_i.py FILE with-secrets|without-secrets

Ignores what every authenticated user may do (self reviews, discovery and other non-resource
URLs) and fails unless the remaining rules are exactly list and watch on the cache's resources,
with or without Secrets.
"""

import sys

CACHE = {
    "gateways.gateway.networking.k8s.io",
    "listenersets.gateway.networking.k8s.io",
    "referencegrants.gateway.networking.k8s.io",
    "xlistenersets.gateway.networking.x-k8s.io",
    "configmaps",
}
EVERYONE = ("selfsubjectaccessreviews.", "selfsubjectrulesreviews.", "selfsubjectreviews.")


def main():
    path, secrets = sys.argv[1], sys.argv[2]
    expected = {resource: "list watch" for resource in CACHE}
    if secrets == "with-secrets":
        expected["secrets"] = "list watch"

    found = {}
    for line in open(path).read().splitlines()[1:]:
        parts = line.split()
        # Non-resource URL rows have an empty first column: they start with "[/".
        if not parts or parts[0].startswith("[") or parts[0].startswith(EVERYONE):
            continue
        verbs = line[line.rindex("[") + 1 : line.rindex("]")].split()
        found[parts[0]] = " ".join(sorted(verbs))

    missing = {r: v for r, v in expected.items() if found.get(r) != v}
    extra = {r: v for r, v in found.items() if r not in expected}
    print(f"  can-i --list ({secrets}): {len(found)} resource rules; missing or different {missing}, extra {extra}")
    sys.exit(0 if found == expected else 1)


if __name__ == "__main__":
    main()
