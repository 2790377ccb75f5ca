"""Print the SMS the local stack sent (phone verification codes): moto keeps every text it was
asked to send in its SNS backend, served at ``/moto-api/data.json``.

``python -m local.sms [--endpoint URL] [--number +14155550100]`` (``make sms [NUMBER=+…]``);
the endpoint defaults to ``AWS_ENDPOINT_URL``, else http://127.0.0.1:4566 (``make run``'s moto).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import urllib.error
import urllib.request
from typing import Any

DEFAULT_ENDPOINT = "http://127.0.0.1:4566"
_CODE = re.compile(r"\b(\d{6})\b")


def sent_sms(endpoint: str) -> list[dict[str, str]]:
    """Every SMS moto recorded, oldest first: ``{"phone_number", "message", "code"}``."""
    with urllib.request.urlopen(f"{endpoint.rstrip('/')}/moto-api/data.json", timeout=5) as response:
        data: dict[str, Any] = json.load(response)
    texts = []
    for sms in data.get("sns", {}).get("SMS", []):
        message = str(sms.get("message", ""))
        found = _CODE.search(message)
        texts.append(
            {
                "phone_number": str(sms.get("phone_number", "")),
                "message": message,
                "code": found.group(1) if found else "",
            }
        )
    return texts


def main(argv: list[str] | None = None) -> int:
    """Print one line per SMS: number, code, text."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint", default=os.environ.get("AWS_ENDPOINT_URL") or DEFAULT_ENDPOINT)
    parser.add_argument("--number", default="", help="only texts to this E.164 number")
    args = parser.parse_args(argv)
    try:
        texts = sent_sms(args.endpoint)
    except (urllib.error.URLError, OSError) as err:
        print(f"cannot reach the local stack's moto at {args.endpoint}: {err}", file=sys.stderr)
        return 1
    texts = [t for t in texts if not args.number or t["phone_number"] == args.number]
    if not texts:
        print("no SMS sent yet", file=sys.stderr)
    for t in texts:
        print(f"{t['phone_number']}\t{t['code'] or '-'}\t{t['message']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
