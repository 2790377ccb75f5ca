"""Deploy ``infra/template.yaml`` into an AWS endpoint (moto server locally, or mock_aws in
tests) and apply what moto's CloudFormation ignores (subscriptions, platform applications)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from local import delivery

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "infra" / "template.yaml"
STACK_NAME = "socialvideo-local"
# The outbox publisher's Chalice handler name (chalicelib/notify/events.py).
PUBLISHER_FUNCTION = "notify_publish_outbox"


def deploy_stack(cloudformation: Any, stage: str = "local", stack_name: str = STACK_NAME) -> dict[str, str]:
    """Create (or keep) the stack and return its outputs."""
    existing = [
        s
        for s in cloudformation.list_stacks()["StackSummaries"]
        if s["StackName"] == stack_name and s["StackStatus"] != "DELETE_COMPLETE"
    ]
    if not existing:
        cloudformation.create_stack(
            StackName=stack_name,
            TemplateBody=TEMPLATE.read_text(),
            Parameters=[{"ParameterKey": "Stage", "ParameterValue": stage}],
        )
    for _ in range(300):
        stack = cloudformation.describe_stacks(StackName=stack_name)["Stacks"][0]
        if not stack["StackStatus"].endswith("IN_PROGRESS"):
            break
        time.sleep(0.1)
    if stack["StackStatus"] != "CREATE_COMPLETE":
        raise RuntimeError(f"stack {stack_name} is {stack['StackStatus']}")
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


def subscribe_queue(sns: Any, sqs: Any, topic_arn: str, queue_url: str, raw: bool = False) -> None:
    """Subscribe an SQS queue to a topic (idempotent in SNS) and let the topic send to it."""
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "sns.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": queue_arn,
                "Condition": {"ArnEquals": {"aws:SourceArn": topic_arn}},
            }
        ],
    }
    sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={"Policy": json.dumps(policy)})
    attributes = {"RawMessageDelivery": "true"} if raw else {}
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn, Attributes=attributes)


def ensure_platform_applications(sns: Any, prefix: str = "socialvideo") -> dict[str, str]:
    """Create the APNS sandbox and GCM platform applications (not expressible in CloudFormation)."""
    arns: dict[str, str] = {}
    existing = {
        a["PlatformApplicationArn"].rsplit("/", 1)[-1]: a["PlatformApplicationArn"]
        for a in sns.list_platform_applications().get("PlatformApplications", [])
    }
    for platform, name, attrs in (
        (
            "APNS_SANDBOX",
            f"{prefix}-apns",
            {"PlatformCredential": "local-key", "PlatformPrincipal": "local-cert"},
        ),
        ("GCM", f"{prefix}-fcm", {"PlatformCredential": "local-server-key"}),
    ):
        if name in existing:
            arns[platform] = existing[name]
            continue
        arns[platform] = sns.create_platform_application(Name=name, Platform=platform, Attributes=attrs)[
            "PlatformApplicationArn"
        ]
    return arns


def deploy_all(session: Any, stage: str = "local") -> dict[str, str]:
    """Stack + local extras; returns the settings environment for the functions."""
    cloudformation = session.client("cloudformation")
    outputs = deploy_stack(cloudformation, stage=stage)
    sns, sqs = session.client("sns"), session.client("sqs")
    if outputs.get("EventsTapQueueUrl"):
        subscribe_queue(sns, sqs, outputs["EventsTopicArn"], outputs["EventsTapQueueUrl"], raw=True)
    platforms = ensure_platform_applications(sns)
    # The outbox publisher parks refused events in its dead-letter queue (deployed: the DLQ the
    # template gives the function; locally the same queue the pump sends its failures to).
    parked = sqs.create_queue(
        QueueName=delivery.dlq_name(PUBLISHER_FUNCTION), Attributes=delivery.dlq_attributes()
    )["QueueUrl"]
    return {
        "PARKED_EVENTS_QUEUE_URL": parked,
        "TABLE_NAME": outputs["TableName"],
        "MEDIA_BUCKET": outputs["MediaBucketName"],
        "EVENTS_TOPIC_ARN": outputs["EventsTopicArn"],
        "VIDEO_EVENTS_TOPIC_ARN": outputs["VideoEventsTopicArn"],
        "EVENTS_TAP_QUEUE_URL": outputs.get("EventsTapQueueUrl", ""),
        "APNS_PLATFORM_APPLICATION_ARN": platforms["APNS_SANDBOX"],
        "GCM_PLATFORM_APPLICATION_ARN": platforms["GCM"],
    }
