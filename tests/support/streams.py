"""DynamoDB Streams clients for in-process moto (``mock_aws``).

botocore ≥ 1.44 sends ARN-addressed Streams calls to ``{account}.streams-ddb.{region}``, which
in-process moto does not route ("Not yet implemented"): these clients pin the classic endpoint
(or ``AWS_ENDPOINT_URL`` when a moto server is the endpoint).
"""

from __future__ import annotations

import os
from typing import Any

REGION = "us-east-1"


def streams_endpoint(region: str = REGION) -> str:
    """``AWS_ENDPOINT_URL`` when set, else the classic Streams endpoint moto intercepts."""
    return os.environ.get("AWS_ENDPOINT_URL") or f"https://streams.dynamodb.{region}.amazonaws.com"


class PinnedStreamsSession:
    """A boto3 session (``session`` or a new one) whose ``dynamodbstreams`` clients name the
    endpoint of :func:`streams_endpoint`; every other client is the session's own."""

    def __init__(self, session: Any = None, region: str = REGION) -> None:
        import boto3

        self._session = session or boto3.session.Session(region_name=region)
        self.region_name = region

    def client(self, service: str, **kwargs: Any) -> Any:
        """A client for ``service`` (Streams at the pinned endpoint)."""
        if service == "dynamodbstreams":
            kwargs.setdefault("endpoint_url", streams_endpoint(self.region_name))
        return self._session.client(service, **kwargs)


def streams_client(region: str = REGION) -> Any:
    """A ``dynamodbstreams`` client that in-process moto answers."""
    return PinnedStreamsSession(region=region).client("dynamodbstreams")
