"""Lazy, cached boto3 clients: created on first use, once per container.

boto3 is imported inside the factories so ``import app`` stays cheap and clients created
under a test's ``mock_aws`` are the mocked ones. ``AWS_ENDPOINT_URL`` (moto server locally)
is honoured by boto3 itself: the code path is the same as in AWS.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from chalicelib.core.settings import get_settings


def _client(service: str, **kwargs: Any) -> Any:
    import boto3
    from botocore.config import Config

    config = Config(
        retries={"max_attempts": 3, "mode": "standard"},
        connect_timeout=2,
        read_timeout=5,
        **kwargs,
    )
    return boto3.session.Session().client(service, region_name=get_settings().region, config=config)


@lru_cache(maxsize=1)
def dynamodb() -> Any:
    """Low-level DynamoDB client (one per container)."""
    return _client("dynamodb")


@lru_cache(maxsize=1)
def s3() -> Any:
    """S3 client signing with SigV4 (required for presigned URLs against moto and AWS)."""
    return _client("s3", signature_version="s3v4")


@lru_cache(maxsize=1)
def sns() -> Any:
    """SNS client."""
    return _client("sns")


@lru_cache(maxsize=1)
def sqs() -> Any:
    """SQS client."""
    return _client("sqs")


def reset_clients() -> None:
    """Forget cached clients (tests switch endpoints between cases)."""
    for factory in (dynamodb, s3, sns, sqs):
        factory.cache_clear()
