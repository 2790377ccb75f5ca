"""The pump's rules come from infra/delivery.json; the strict local AWS sizes requests as AWS
does; `make dlq` tells parked deliveries apart."""

from __future__ import annotations

import json
from pathlib import Path

from local import delivery
from local.dlq import Parked
from local.strict_aws import (
    AwsRequest,
    FaultRules,
    check_limits,
    item_size,
    message_size,
    parse_rule,
    render_error,
)


def test_rules_are_the_files_with_per_function_overrides(tmp_path: Path) -> None:
    data = json.loads(delivery.DELIVERY.read_text())
    data["functions"] = {"slow_projector": {"dynamodb_stream": {"MaximumRetryAttempts": 2}}}
    path = tmp_path / "delivery.json"
    path.write_text(json.dumps(data))
    assert delivery.rules("dynamodb_stream", "any", path)["MaximumRetryAttempts"] == 5
    assert delivery.rules("dynamodb_stream", "slow_projector", path)["MaximumRetryAttempts"] == 2
    assert delivery.rules("dynamodb_stream", "slow_projector", path)["BisectBatchOnFunctionError"] is True
    assert delivery.dlq_name("notify_publish_outbox") == "notify_publish_outbox-dlq"


def test_message_size_counts_utf8_and_attributes() -> None:
    attributes = {"type": {"DataType": "String", "StringValue": "message.sent"}}
    assert message_size("😀", attributes) == 4 + 4 + 6 + 12


def test_item_size_counts_names_and_values() -> None:
    item = {"pk": {"S": "abc"}, "n": {"N": "12345"}, "ok": {"BOOL": True}}
    assert item_size(item) == (2 + 3) + (1 + 4) + (2 + 1)


def test_a_publish_batch_over_256_kib_with_its_attributes_is_refused() -> None:
    form = "Action=PublishBatch&TopicArn=t"
    for n in range(1, 5):
        form += (
            f"&PublishBatchRequestEntries.member.{n}.Id={n}"
            f"&PublishBatchRequestEntries.member.{n}.Message={'x' * 65_530}"
            f"&PublishBatchRequestEntries.member.{n}.MessageAttributes.entry.1.Name=type"
            f"&PublishBatchRequestEntries.member.{n}.MessageAttributes.entry.1.Value.DataType=String"
            f"&PublishBatchRequestEntries.member.{n}.MessageAttributes.entry.1.Value.StringValue=x"
        )
    error = check_limits(AwsRequest("sns", "PublishBatch", form.encode()))
    assert error is not None and error.code == "BatchRequestTooLong"
    status, _, body = render_error(error)
    assert status.startswith("400") and b"<Code>BatchRequestTooLong</Code>" in body


def test_a_fault_rule_fires_for_matching_actions_only_until_its_count() -> None:
    rules = FaultRules(seed=1)
    rules.add(parse_rule({"service": "sqs", "action": "Send*", "error": "ServiceUnavailable", "count": 1}))
    assert rules.match(AwsRequest("sqs", "ReceiveMessage", b"")) is None
    error = rules.match(AwsRequest("sqs", "SendMessage", b""))
    assert error is not None and error.status == 503
    assert rules.match(AwsRequest("sqs", "SendMessage", b"")) is None


def test_a_rule_with_an_unknown_error_is_refused() -> None:
    try:
        parse_rule({"service": "sns", "error": "Teapot"})
    except ValueError as err:
        assert "error must be one of" in str(err)
    else:
        raise AssertionError("accepted")


def test_parked_deliveries_are_told_apart() -> None:
    event = Parked(
        "notify_publish_outbox-dlq",
        "notify_publish_outbox",
        {
            "Body": "{}",
            "MessageAttributes": {
                "parked_from": {"StringValue": "events-outbox"},
                "event_id": {"StringValue": "evt_1"},
                "event_type": {"StringValue": "message.sent"},
                "error_code": {"StringValue": "InvalidParameter"},
            },
        },
    )
    stream = Parked(
        "p-dlq",
        "p",
        {
            "Body": json.dumps(
                {
                    "requestContext": {"condition": "RetryAttemptsExhausted", "approximateInvokeCount": 6},
                    "responsePayload": {"errorType": "ValueError", "errorMessage": "bad"},
                    "DDBStreamBatchInfo": {
                        "startSequenceNumber": "1",
                        "endSequenceNumber": "1",
                        "batchSize": 1,
                    },
                }
            )
        },
    )
    assert event.kind == "event" and "evt_1" in event.summary()
    assert stream.kind == "stream" and "after 6 attempts" in stream.summary()
