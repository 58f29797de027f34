"""Fetches modelrelay's /metrics and parses it with the `prometheus_client` package's
OpenMetrics parser (the strict one), as a Prometheus server would read it.

Run by tests/parity_api.rs. Prints one JSON object on stdout: the content type and, per metric
family, its type and samples (name, labels, value). Exits 2 if the text does not parse.
"""

import json
import sys
import urllib.request

from prometheus_client.openmetrics.parser import text_string_to_metric_families


def main() -> int:
    url = sys.argv[1]
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(url, timeout=30) as response:
        content_type = response.headers.get("content-type", "")
        text = response.read().decode("utf-8")
    try:
        families = {
            family.name: {
                "type": family.type,
                "samples": [
                    {"name": s.name, "labels": s.labels, "value": s.value}
                    for s in family.samples
                ],
            }
            for family in text_string_to_metric_families(text)
        }
    except Exception as error:  # the parser's own message says what is wrong
        print(json.dumps({"error": repr(error), "text": text}))
        return 2
    print(json.dumps({"contentType": content_type, "families": families}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
