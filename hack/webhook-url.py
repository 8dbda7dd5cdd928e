"""Reads `helm template` output on stdin and prints the chart's ValidatingWebhookConfiguration
as JSON, pointed at a URL (a webhook running outside the cluster) with the given CA bundle.
Used by the demo; the end-to-end tests do the same in Rust."""

import base64
import json
import sys

import yaml


def main():
    url, ca_path = sys.argv[1], sys.argv[2]
    with open(ca_path, "rb") as ca_file:
        ca_bundle = base64.b64encode(ca_file.read()).decode()

    for doc in yaml.safe_load_all(sys.stdin.read()):
        if not doc or doc.get("kind") != "ValidatingWebhookConfiguration":
            continue
        for webhook in doc["webhooks"]:
            webhook["clientConfig"] = {"url": url, "caBundle": ca_bundle}
        print(json.dumps(doc))
        return
    sys.exit("no ValidatingWebhookConfiguration in the chart's output")


main()
