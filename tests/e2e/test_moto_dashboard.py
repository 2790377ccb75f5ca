"""The local endpoint's dashboard stays small as the table grows.

moto remembers every model instance it ever created for ``/moto-api/data.json``, including one
copy of every item per transaction; the dump is built under the serialised server's lock. On
CI it grew past the 5-s reads of the e2e tests that look up pushes and SMS there, and stalled
every request queued behind it. ``local.motofix`` keeps the bulk models out of it.
"""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from local.sms import sent_pushes, sent_sms
from tests.support.moto import moto_server

pytestmark = pytest.mark.e2e

ITEMS = 400
TRANSACTIONS = 40


@pytest.fixture(scope="module")
def busy_moto() -> Iterator[tuple[str, Any]]:
    """A serialised moto whose table saw ITEMS puts and TRANSACTIONS transactions."""
    import boto3

    with moto_server() as url:
        session = boto3.session.Session(
            aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
        )
        ddb = session.client("dynamodb", endpoint_url=url)
        ddb.create_table(
            TableName="busy",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        )
        for i in range(ITEMS):
            ddb.put_item(TableName="busy", Item={"pk": {"S": f"item-{i}"}, "body": {"S": "x" * 200}})
        for i in range(TRANSACTIONS):
            ddb.transact_write_items(
                TransactItems=[
                    {"Put": {"TableName": "busy", "Item": {"pk": {"S": f"tx-{i}-{j}"}}}} for j in range(3)
                ]
            )
        yield url, session


def test_the_dashboard_holds_no_item_copies_after_many_transactions(busy_moto: tuple[str, Any]) -> None:
    # Given a table that saw hundreds of writes and dozens of transactions (busy_moto)
    url, _ = busy_moto
    # When the dashboard is read
    started = time.monotonic()
    with urllib.request.urlopen(f"{url}/moto-api/data.json", timeout=30) as response:
        raw = response.read()
    took = time.monotonic() - started
    # Then it lists no items (untracked: ~16,000 copies before) and is small and quick
    dump = json.loads(raw)
    assert dump.get("dynamodb", {}).get("Item", []) == []
    assert dump.get("dynamodb", {}).get("StreamRecord", []) == []
    assert len(raw) < 200_000, len(raw)
    assert took < 2.0, took


def test_sms_and_pushes_are_still_listed(busy_moto: tuple[str, Any]) -> None:
    # Given a text and a push sent through the busy endpoint's SNS
    url, session = busy_moto
    sns = session.client("sns", endpoint_url=url)
    sns.publish(PhoneNumber="+14155550142", Message="Your code is 314159")
    app = sns.create_platform_application(Name="dash", Platform="GCM", Attributes={"PlatformCredential": "k"})
    endpoint = sns.create_platform_endpoint(
        PlatformApplicationArn=app["PlatformApplicationArn"], Token="tok-dash"
    )
    sns.publish(
        TargetArn=endpoint["EndpointArn"],
        MessageStructure="json",
        Message=json.dumps({"default": "hi", "GCM": json.dumps({"notification": {"body": "hi"}})}),
    )
    # When the local tools read them from the dashboard
    texts = [t for t in sent_sms(url) if t["phone_number"] == "+14155550142"]
    pushes = sent_pushes(url, "tok-dash")
    # Then both are there, as sent
    assert [t["code"] for t in texts] == ["314159"]
    assert [json.loads(p["GCM"])["notification"]["body"] for p in pushes] == ["hi"]
