"""Print the SMS the local stack sent (phone verification codes): moto keeps every text it was
asked to send in its SNS backend, served at ``/moto-api/data.json`` (as it keeps every push
published to a platform endpoint: :func:`sent_pushes`, for the e2e tests and the bench).

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


# data.json is built under the serialised server's lock, so it waits behind the requests queued
# before it (the dump itself is cheap: ``local.motofix`` keeps bulk models out of it).
_DUMP_TIMEOUT_S = 30


def _sns_dump(endpoint: str) -> dict[str, Any]:
    url = f"{endpoint.rstrip('/')}/moto-api/data.json"
    with urllib.request.urlopen(url, timeout=_DUMP_TIMEOUT_S) as response:
        data: dict[str, Any] = json.load(response)
    return dict(data.get("sns", {}))


def sent_pushes(endpoint: str, token: str) -> list[dict[str, Any]]:
    """Every push moto recorded for the platform endpoint(s) of device ``token``, oldest first:
    each the JSON message as published (``{"default", "GCM"/"APNS"...}``)."""
    endpoints = [e for e in _sns_dump(endpoint).get("PlatformEndpoint", []) if e.get("token") == token]
    return [json.loads(m) for e in endpoints for m in (e.get("messages") or {}).values()]


def sent_sms(endpoint: str) -> list[dict[str, str]]:
    """Every SMS moto recorded, oldest first: ``{"phone_number", "message", "code"}``."""
    texts = []
    for sms in _sns_dump(endpoint).get("SMS", []):
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
