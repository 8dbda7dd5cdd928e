#!/usr/bin/env python3
"""Checks that every value in a chart's values.yaml is documented where it is set.

Usage: check_values_documented.py values.yaml values.schema.json

A key is documented when a comment line stands directly above it; everything below a
documented key (a default map or list) counts as its example. A key without a comment is a
section: each of its children must then be documented. Also checks that every top-level key
has a property in the schema and the other way round. Reads the file's own layout, not YAML, so it needs no parser.
"""

import json
import re
import sys

KEY = re.compile(r"^(\s*)([A-Za-z0-9_.-]+):(\s|$)")


def main():
    values_path, schema_path = sys.argv[1:3]
    lines = open(values_path).read().splitlines()

    undocumented = []
    # Stack of (indent, path, documented) for the keys enclosing the current line.
    stack = []
    previous = ""
    top_level = []
    for line in lines:
        stripped = line.strip()
        if not stripped:
            previous = ""
            continue
        match = KEY.match(line)
        if stripped.startswith("#") or not match or stripped.startswith("- "):
            previous = stripped
            continue
        indent = len(match.group(1))
        while stack and stack[-1][0] >= indent:
            stack.pop()
        inside_documented = any(documented for _, _, documented in stack)
        documented = previous.startswith("#")
        path = ".".join([p for _, p, _ in stack] + [match.group(2)])
        if indent == 0:
            top_level.append(match.group(2))
        is_section = line.rstrip().endswith(":")
        if not inside_documented and not documented and not is_section:
            undocumented.append(path)
        stack.append((indent, match.group(2), documented or inside_documented))
        previous = stripped

    schema = json.load(open(schema_path))
    missing = [key for key in top_level if key not in schema.get("properties", {})]
    stale = [key for key in schema.get("properties", {}) if key not in top_level and key != "global"]

    for path in undocumented:
        print(f"  undocumented value: {path}")
    for key in missing:
        print(f"  value without a schema property: {key}")
    for key in stale:
        print(f"  schema property with no value: {key}")
    print(f"  values.yaml: {len(top_level)} top-level keys, {len(undocumented)} undocumented, "
          f"{len(missing)} missing from the schema, {len(stale)} only in the schema")
    sys.exit(1 if undocumented or missing or stale else 0)


if __name__ == "__main__":
    main()
