"""``make package``: the deployable SAM/CloudFormation artifact in ``build/``.

1. Nothing to copy: the code lives in ``chalicelib/`` beside ``app.py``, where Chalice packages
   it (a plain ``chalice package``/``chalice deploy`` ships the same code).
2. Build ``build/merge-template.json`` from ``infra/template.yaml`` (the same stateful
   resources ``make run`` deploys locally, plus the KMS key, alarms and dashboard) and what
   Chalice cannot express:
   - IAM: the stage sets ``manage_iam_role: false`` (Chalice generates no role and no policy);
     every function gets its own ``<Function>Role`` here with an explicit policy naming its
     resources (``FUNCTION_ACCESS``): the table (+ ``/index/*``; ``/stream/*`` for the
     stream consumers), bucket prefixes, the events topic, push platform applications, the
     WebSocket API's ``@connections``; plus its own log group and the data key.
   - names: function ``x_y`` is ``<Prefix>-<Stage>-x-y`` (the alarms use these names), the REST
     API is ``<Prefix>-<Stage>`` with per-route metrics on.
   - environment (SAM Globals): the resources, Cognito issuer/audience/JWKS URL from
     parameters, secrets as Secrets Manager dynamic references, the snapshot CDN's URL
     (``SnapshotDistribution``), encrypted with the data key.
   - failure handling (issue 16), from ``infra/delivery.json`` (the local pump applies the same
     file): every function invoked by the stream, SNS or a schedule gets its own KMS-encrypted
     SQS dead-letter queue ``<Prefix>-<Stage>-x-y-dlq`` (its role may send to it; env
     ``PARKED_EVENTS_QUEUE_URL``) with a depth alarm. Stream mappings read ``Table.StreamArn``
     with bounded retries, bisection, a maximum record age, ``ReportBatchItemFailures`` when
     the handler returns item failures, the queue as on-failure destination, and an iterator-age
     alarm; SNS/scheduled functions get an ``AWS::Lambda::EventInvokeConfig`` with bounded
     retries and the queue as on-failure destination. SNS subscriptions wait for their topic.
   - log groups on the data key, REST/WebSocket access logs, REST X-Ray tracing, and inline
     checkov skips with their reasons (docs/operations.md, "Security scan").
3. ``chalice package --stage STAGE --merge-template build/merge-template.json build/``, failing
   when Chalice reports "Could not install dependencies" (it exits 0 in that case).
4. Check the result: every stream event source points at the table's stream and has an
   on-failure destination, every async function an invoke config, every function runs under
   its own role. (``make package`` then runs cfn-lint and checkov.)

``python -m infra.package --stage prod --out build``
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "infra" / "template.yaml"
# Retry and failure rules of every event source (the local pump reads the same file).
DELIVERY = ROOT / "infra" / "delivery.json"
LOCK_DIR = ROOT / ".local"
STREAM_ARN = {"Fn::GetAtt": ["Table", "StreamArn"]}
DEPENDENCY_FAILURE = "Could not install dependencies"


class PackageError(RuntimeError):
    """The artifact could not be built or is not coherent."""


def load_infra_template(path: Path = TEMPLATE) -> dict[str, Any]:
    """``infra/template.yaml`` as plain JSON-able data (``!Ref``/``!Sub``/``!GetAtt`` → ``Fn::``)."""
    from cfnlint.decode import cfn_yaml

    template = cfn_yaml.load(str(path))
    # cfn-lint's nodes subclass dict/str/list; a JSON round trip makes them plain.
    data: dict[str, Any] = json.loads(json.dumps(template))
    return data


def _resolve_sub(value: Any, parameters: dict[str, Any]) -> str | None:
    """The literal a ``Fn::Sub`` of parameter defaults yields (None if it needs more)."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and "Fn::Sub" in value and isinstance(value["Fn::Sub"], str):
        text: str = value["Fn::Sub"]
        for name, spec in parameters.items():
            text = text.replace("${" + name + "}", str(spec.get("Default", "")))
        return None if "${" in text else text
    return None


def topic_resources(infra: dict[str, Any]) -> dict[str, str]:
    """Topic name → logical id of the ``AWS::SNS::Topic`` that creates it."""
    parameters = infra.get("Parameters", {})
    topics: dict[str, str] = {}
    for logical_id, resource in infra.get("Resources", {}).items():
        if resource.get("Type") == "AWS::SNS::Topic":
            name = _resolve_sub(resource.get("Properties", {}).get("TopicName"), parameters)
            if name:
                topics[name] = logical_id
    return topics


# --- Functions: names, roles, environment -----------------------------------------------------

# What each function may touch, by access grant (see ``_grant_statements``). Every Lambda in the
# package needs an entry: a new handler without one fails the build instead of getting a
# broad role. Keys are Chalice's function names (``api_handler``, ``websocket_*``, handler names).
FUNCTION_ACCESS: dict[str, tuple[str, ...]] = {
    # REST API: every route. Attachments: presigned POST/GET + HeadObject under attachments/;
    # live chat poll reads the snapshot; video cards sign thumbnail GETs; device registration.
    # Phone verification texts codes (SNS Publish to a phone number); exports/ reads: the export
    # status signs the archive's GET.
    "api_handler": (
        "table_rw",
        "attachments_rw",
        "live_read",
        "thumbnails_read",
        "push_endpoints",
        "sms_send",
        "exports_read",
    ),
    "websocket_connect": ("table_rw", "connections"),
    "websocket_message": ("table_rw", "connections", "connections_close"),
    "websocket_disconnect": ("table_rw", "connections"),
    "share_video_events": ("table_rw",),
    # The outbox publisher reads the stream (and a few items to build events), publishes events.
    # Events over 256 KiB travel as claim checks: the body under events/ (docs/realtime.md).
    "notify_publish_outbox": ("stream", "table_read", "events_publish", "event_bodies_write"),
    "notify_push_event": ("table_rw", "push_send", "event_bodies_read"),
    "checkout_expire_orders": ("table_rw",),
    # Deletes the objects of uploads no sent message attached within 24 h.
    "dm_sweep_uploads": ("table_rw", "attachments_delete"),
    # Delivery and the sweeper close connections whose token expired (DeleteConnection).
    "realtime_deliver": ("table_rw", "connections", "connections_close", "event_bodies_read"),
    "realtime_sweep_expired": ("table_rw", "connections_close"),
    # Projections, one function per read model (chalicelib/projections/events.py).
    "project_inbox": ("stream", "table_rw", "attachments_delete"),  # unsend deletes attachments
    "project_live_snapshots": ("stream", "table_rw", "live_rw"),
    "project_share_interactions": ("stream", "table_rw"),
    # Account erasure and export (issue 20): the owning domains' writes, attachment deletion,
    # push endpoint deletion, closing sockets, archives under exports/.
    "account_jobs": (
        "stream",
        "table_rw",
        "media_erase",
        "exports_rw",
        "push_endpoints_delete",
        "connections_close",
    ),
}

# Event filters of stream consumers that act on a few item types only (Lambda FilterCriteria).
STREAM_FILTERS: dict[str, list[dict[str, Any]]] = {
    # Account jobs (issue 20): deletion markers and exports; their own progress updates pass the
    # filter too and are ignored by the handler.
    "account_jobs": [{"dynamodb": {"NewImage": {"entity": {"S": ["account_deletion", "account_export"]}}}}],
}

# Parameters the functions need in AWS (added to the merged template; docs/operations.md).
FUNCTION_PARAMETERS: dict[str, dict[str, Any]] = {
    "CognitoUserPoolId": {
        "Type": "String",
        "AllowedPattern": r"^[\w-]+_[0-9a-zA-Z]+$",
        "Description": "Cognito user pool id (<region>_<id>): AUTH_ISSUER and AUTH_JWKS_URL derive from it.",
    },
    "CognitoAppClientId": {
        "Type": "String",
        "AllowedPattern": r"^[\w+]+$",
        "Description": "Cognito app client id: the access tokens' client_id (ID tokens are refused).",
    },
    "AppSecretsName": {
        "Type": "String",
        "Description": (
            "Secrets Manager secret (JSON: cursor_secret, phone_hash_secret, payment_webhook_secret, "
            "stripe_api_key), resolved into the functions' encrypted environment at deploy time."
        ),
    },
    "AppSecretsVersionId": {
        "Type": "String",
        "Default": "",
        "Description": "Pin a secret version (set it to roll out a rotated secret; empty = AWSCURRENT).",
    },
    "ApnsPlatformApplicationArn": {
        "Type": "String",
        "AllowedPattern": r"^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:app/APNS(_SANDBOX)?/[\w.-]+$",
        "Description": "SNS platform application for APNs.",
    },
    "GcmPlatformApplicationArn": {
        "Type": "String",
        "AllowedPattern": r"^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:app/GCM/[\w.-]+$",
        "Description": "SNS platform application for FCM (GCM).",
    },
    "SnapshotBaseUrl": {
        "Type": "String",
        "Default": "",
        "AllowedPattern": r"^(https://\S+[^/\s])?$",
        "Description": (
            "Optional override of the live-chat snapshots' base URL (https://..., no trailing slash; "
            "another CDN in front of the bucket's live/ prefix). Empty = the stack's SnapshotDistribution."
        ),
    },
    "ThumbnailKeyPrefix": {
        "Type": "String",
        "Default": "thumbnails",
        "AllowedPattern": r"^[\w.-]+(/[\w.-]+)*$",
        "Description": "Bucket prefix of video thumbnails (the API signs GETs under it only).",
    },
    "LogRetentionDays": {
        "Type": "Number",
        "Default": 30,
        "AllowedValues": [1, 3, 5, 7, 14, 30, 60, 90, 180, 365],
        "Description": "Retention of the functions' log groups.",
    },
}
SECRET_KEYS = {
    "CURSOR_SECRET": "cursor_secret",
    "PHONE_HASH_SECRET": "phone_hash_secret",
    "PAYMENT_WEBHOOK_SECRET": "payment_webhook_secret",
    "STRIPE_API_KEY": "stripe_api_key",
}
API_HANDLER = "api_handler"
WEBSOCKET_HANDLERS = {
    "$connect": "websocket_connect",
    "$message": "websocket_message",
    "$default": "websocket_message",
    "$disconnect": "websocket_disconnect",
}
DATA_KEY_ARN = {"Fn::GetAtt": ["DataKey", "Arn"]}
# Live-chat snapshots: the stack's CloudFront distribution (infra/template.yaml, deployed stages
# only; on its own domain when the stack has one), unless the SnapshotBaseUrl parameter overrides it.
SNAPSHOT_BASE_URL = {
    "Fn::If": [
        "HasSnapshotBaseUrl",
        {"Ref": "SnapshotBaseUrl"},
        {
            "Fn::If": [
                "HasSnapshotDomain",
                {"Fn::Sub": "https://${SnapshotDomainName}"},
                {"Fn::If": ["IsDeployed", {"Fn::Sub": "https://${SnapshotDistribution.DomainName}"}, ""]},
            ]
        },
    ]
}


def function_name(name: str) -> dict[str, str]:
    """The deployed name of a function (alarms in infra/template.yaml use the same scheme)."""
    return {"Fn::Sub": "${Prefix}-${Stage}-" + name.replace("_", "-")}


def app_functions(app: Any) -> dict[str, str]:
    """Chalice function name → logical id, for every Lambda ``chalice package`` generates."""
    from chalice.app import DynamoDBEventConfig, ScheduledEventConfig, SNSEventConfig, SQSEventConfig

    functions: dict[str, str] = {}
    if app.routes:
        functions[API_HANDLER] = "APIHandler"
    for route in app.websocket_handlers:
        name = WEBSOCKET_HANDLERS.get(route, "websocket_message")
        functions[name] = to_cfn(name)
    for config in app.event_sources:
        if isinstance(config, (DynamoDBEventConfig, SNSEventConfig, ScheduledEventConfig, SQSEventConfig)):
            functions[config.name] = to_cfn(config.name)
    for name in getattr(app, "pure_lambda_functions", []):
        functions[name.name] = to_cfn(name.name)
    return functions


def to_cfn(name: str) -> str:
    """Chalice's logical id for a function name."""
    from chalice.utils import to_cfn_resource_name

    return str(to_cfn_resource_name(name))


def _endpoints_of(application_parameter: str) -> dict[str, Any]:
    """``arn:…:endpoint/<platform>/<app>/*`` from a platform application ARN parameter."""
    parts = {"Fn::Split": [":app/", {"Ref": application_parameter}]}
    return {
        "Fn::Join": [
            "",
            [{"Fn::Select": [0, parts]}, ":endpoint/", {"Fn::Select": [1, parts]}, "/*"],
        ]
    }


def _connections_arn(api_stage: str, method: str = "POST") -> dict[str, str]:
    """The WebSocket API's @connections resources of this stage for one method (POST: send a
    frame; DELETE: close a connection)."""
    base = "arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:${WebsocketAPI}/" + api_stage
    return {"Fn::Sub": base + f"/{method}/@connections/*"}


def _grant_statements(grant: str, api_stage: str) -> list[dict[str, Any]]:
    """IAM statements of one access grant: every one names its resources (no data-service ``*``)."""
    table = {"Fn::GetAtt": ["Table", "Arn"]}
    indexes = {"Fn::Sub": "${Table.Arn}/index/*"}
    reads = ["dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query", "dynamodb:ConditionCheckItem"]
    writes = ["dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem"]

    def objects(prefix: str) -> dict[str, str]:
        return {"Fn::Sub": "${MediaBucket.Arn}/" + prefix + "/*"}

    apns, gcm = {"Ref": "ApnsPlatformApplicationArn"}, {"Ref": "GcmPlatformApplicationArn"}
    endpoints = [_endpoints_of("ApnsPlatformApplicationArn"), _endpoints_of("GcmPlatformApplicationArn")]
    grants: dict[str, list[dict[str, Any]]] = {
        "table_rw": [
            {"Sid": "TableReadWrite", "Action": reads + writes, "Resource": table},
            {"Sid": "IndexQuery", "Action": ["dynamodb:Query"], "Resource": indexes},
        ],
        "table_read": [
            {"Sid": "TableRead", "Action": reads, "Resource": table},
            {"Sid": "IndexQuery", "Action": ["dynamodb:Query"], "Resource": indexes},
        ],
        "stream": [
            {
                "Sid": "TableStream",
                "Action": [
                    "dynamodb:DescribeStream",
                    "dynamodb:GetRecords",
                    "dynamodb:GetShardIterator",
                    "dynamodb:ListStreams",
                ],
                "Resource": {"Fn::Sub": "${Table.Arn}/stream/*"},
            }
        ],
        "attachments_rw": [
            {
                "Sid": "Attachments",
                "Action": ["s3:GetObject", "s3:PutObject"],
                "Resource": objects("attachments"),
            }
        ],
        "attachments_delete": [
            {
                "Sid": "AttachmentsDelete",
                "Action": ["s3:GetObject", "s3:DeleteObject", "s3:DeleteObjectVersion"],
                "Resource": objects("attachments"),
            },
        ],
        # Account erasure/export: list (only under the two prefixes) and delete every version.
        "media_erase": [
            {
                "Sid": "MediaListUserPrefixes",
                "Action": ["s3:ListBucket", "s3:ListBucketVersions"],
                "Resource": {"Fn::Sub": "${MediaBucket.Arn}"},
                "Condition": {"StringLike": {"s3:prefix": ["attachments/*", "exports/*"]}},
            },
            {
                "Sid": "MediaErase",
                "Action": ["s3:GetObject", "s3:DeleteObject", "s3:DeleteObjectVersion"],
                "Resource": [objects("attachments"), objects("exports")],
            },
        ],
        "exports_rw": [
            {"Sid": "Exports", "Action": ["s3:GetObject", "s3:PutObject"], "Resource": objects("exports")}
        ],
        "exports_read": [{"Sid": "ExportsRead", "Action": ["s3:GetObject"], "Resource": objects("exports")}],
        "live_read": [{"Sid": "LiveSnapshotsRead", "Action": ["s3:GetObject"], "Resource": objects("live")}],
        "live_rw": [
            {"Sid": "LiveSnapshots", "Action": ["s3:GetObject", "s3:PutObject"], "Resource": objects("live")}
        ],
        "thumbnails_read": [
            {
                "Sid": "Thumbnails",
                "Action": ["s3:GetObject"],
                "Resource": {"Fn::Sub": "${MediaBucket.Arn}/${ThumbnailKeyPrefix}/*"},
            }
        ],
        "event_bodies_write": [
            {"Sid": "EventBodiesWrite", "Action": ["s3:PutObject"], "Resource": objects("events")}
        ],
        "event_bodies_read": [
            {"Sid": "EventBodiesRead", "Action": ["s3:GetObject"], "Resource": objects("events")}
        ],
        "events_publish": [
            {"Sid": "PublishEvents", "Action": ["sns:Publish"], "Resource": {"Ref": "EventsTopic"}}
        ],
        "push_endpoints": [
            {"Sid": "CreatePushEndpoints", "Action": ["sns:CreatePlatformEndpoint"], "Resource": [apns, gcm]},
            {
                "Sid": "ManagePushEndpoints",
                "Action": ["sns:DeleteEndpoint", "sns:GetEndpointAttributes", "sns:SetEndpointAttributes"],
                "Resource": endpoints,
            },
        ],
        # Publish to a phone number has no resource ARN, so the Allow must name "*"; the Deny on
        # every SNS ARN leaves exactly SMS (no topic or endpoint publishes). Spend is capped by
        # the account's SMS spending limit and the per-user/per-number daily code quotas.
        "sms_send": [
            {"Sid": "SendSms", "Action": ["sns:Publish"], "Resource": "*"},
            {
                "Sid": "SmsOnly",
                "Effect": "Deny",
                "Action": ["sns:Publish"],
                "Resource": {"Fn::Sub": "arn:${AWS::Partition}:sns:*:*:*"},
            },
        ],
        "push_endpoints_delete": [
            {
                "Sid": "DeletePushEndpoints",
                "Action": ["sns:DeleteEndpoint", "sns:GetEndpointAttributes"],
                "Resource": endpoints,
            },
        ],
        "push_send": [
            {
                "Sid": "SendPushes",
                "Action": ["sns:Publish", "sns:DeleteEndpoint", "sns:GetEndpointAttributes"],
                "Resource": endpoints,
            }
        ],
        "connections": [
            {
                "Sid": "WebSocketConnections",
                "Action": ["execute-api:ManageConnections"],
                "Resource": _connections_arn(api_stage),
            }
        ],
        # Closing connections whose token expired (DeleteConnection).
        "connections_close": [
            {
                "Sid": "WebSocketCloseConnections",
                "Action": ["execute-api:ManageConnections"],
                "Resource": _connections_arn(api_stage, "DELETE"),
            }
        ],
    }
    if grant not in grants:
        raise PackageError(f"unknown access grant {grant!r}")
    return [{"Effect": "Allow", **statement} for statement in grants[grant]]


def function_role(
    name: str, log_group_id: str, api_stage: str, dead_letter_queue_id: str | None = None
) -> dict[str, Any]:
    """The function's own execution role: its log group, the data key, its own dead-letter
    queue (if it has one), and its grants."""
    if name not in FUNCTION_ACCESS:
        raise PackageError(f"function {name!r} has no entry in infra/package.py FUNCTION_ACCESS")
    statements: list[dict[str, Any]] = [
        {
            "Sid": "OwnLogGroup",
            "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": {"Fn::GetAtt": [log_group_id, "Arn"]},
        },
        {
            # Table, stream and bucket objects are encrypted with the stack's key; so is the environment.
            "Sid": "DataKey",
            "Effect": "Allow",
            "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
            "Resource": DATA_KEY_ARN,
        },
    ]
    if dead_letter_queue_id:
        # Lambda sends failed records/invocations with the function's role; the publisher also
        # parks refused events there itself (PARKED_EVENTS_QUEUE_URL).
        statements.append(
            {
                "Sid": "OwnDeadLetterQueue",
                "Effect": "Allow",
                "Action": ["sqs:SendMessage"],
                "Resource": {"Fn::GetAtt": [dead_letter_queue_id, "Arn"]},
            }
        )
    for grant in FUNCTION_ACCESS[name]:
        statements += _grant_statements(grant, api_stage)
    role: dict[str, Any] = {
        "Type": "AWS::IAM::Role",
        "Properties": {
            "AssumeRolePolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "lambda.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                    }
                ],
            },
            "Policies": [
                {
                    "PolicyName": name.replace("_", "-"),
                    "PolicyDocument": {"Version": "2012-10-17", "Statement": statements},
                }
            ],
        },
    }
    if "sms_send" in FUNCTION_ACCESS[name]:
        role["Metadata"] = {"checkov": {"skip": [SMS_PUBLISH_SKIP]}}
    return role


# --- Failure handling: retries, dead-letter queues, alarms (issue 16) --------------------------

ALARM_ARN = "arn:${AWS::Partition}:cloudwatch:${AWS::Region}:${AWS::AccountId}:alarm:"
DASHBOARD_ALARMS_ANCHOR = ALARM_ARN + '${Prefix}-${Stage}-order-sweeper-errors"'
ALARM_ACTIONS = {"AlarmActions": [{"Ref": "AlarmTopic"}], "OKActions": [{"Ref": "AlarmTopic"}]}
# Sections of infra/delivery.json by invocation kind of an async function.
ASYNC_SECTIONS = {"SNSEventConfig": "sns_async", "ScheduledEventConfig": "scheduled_async"}


def delivery_rules(path: Path = DELIVERY) -> dict[str, Any]:
    """``infra/delivery.json``: the retry and failure rules of every event source."""
    rules: dict[str, Any] = json.loads(path.read_text())
    return rules


# Override keys a section accepts beyond its defaults (CloudFormation property names).
EXTRA_KEYS = {
    "dynamodb_stream": {"ParallelizationFactor", "MaximumBatchingWindowInSeconds", "TumblingWindowInSeconds"},
}


def source_rules(delivery: dict[str, Any], section: str, name: str) -> dict[str, Any]:
    """One section's CloudFormation properties for function ``name``, with its overrides
    (``functions.<name>``, flat: an override applies to the keys its section has); keys
    starting with ``local_`` or ``_`` are the pump's only."""
    defaults = delivery.get(section, {})
    accepted = set(defaults) | EXTRA_KEYS.get(section, set())
    overrides = {k: v for k, v in delivery.get("functions", {}).get(name, {}).items() if k in accepted}
    merged = {**defaults, **overrides}
    return {k: v for k, v in merged.items() if not k.startswith(("local_", "_"))}


def invocation_kinds(app: Any) -> dict[str, str]:
    """Function name → how Lambda invokes it: ``stream`` (an event source mapping on the
    table's stream), ``async`` (SNS, schedules: Lambda's async queue), or ``sqs``. Functions
    not listed (API, WebSocket routes) are invoked synchronously."""
    kinds: dict[str, str] = {}
    for config in app.event_sources:
        kind = type(config).__name__
        if kind == "DynamoDBEventConfig":
            kinds[config.name] = "stream"
        elif kind in ASYNC_SECTIONS:
            kinds[config.name] = "async"
        elif kind == "SQSEventConfig":
            kinds[config.name] = "sqs"
    return kinds


def async_section(app: Any, name: str) -> str:
    """The delivery.json section of an async function (SNS or schedule)."""
    for config in app.event_sources:
        if config.name == name and type(config).__name__ in ASYNC_SECTIONS:
            return ASYNC_SECTIONS[type(config).__name__]
    raise PackageError(f"{name} is not invoked asynchronously")


def reports_partial_failures(app: Any, name: str) -> bool:
    """Whether a stream handler returns ``batchItemFailures`` (its return annotation is not
    ``None``): only then does its mapping get ``ReportBatchItemFailures``. A handler that
    raises on failure is better served by bisection alone."""
    import inspect

    handler = app.handler_map[name]
    func = getattr(handler, "func", handler)
    annotation = inspect.signature(func).return_annotation
    return annotation not in ("None", None)


def function_checkov_skips(kind: str) -> list[dict[str, str]]:
    """Inline checkov skips every function carries, with the reason (docs/operations.md)."""
    dlq_reason = {
        "stream": "Stream-invoked: failed batches go to the event source mapping's OnFailure SQS "
        "destination (the function's DeadLetterQueue); a function DLQ applies to async invokes only.",
        "async": "Async failures go to the EventInvokeConfig OnFailure SQS destination (the "
        "function's DeadLetterQueue, with the error context), AWS's successor to a function DLQ.",
        "sqs": "SQS-invoked: failed messages move to the source queue's redrive dead-letter queue.",
        "sync": "Invoked synchronously by API Gateway: the caller gets the error; a function DLQ "
        "applies to asynchronous invocations only.",
    }[kind]
    return [
        {
            "id": "CKV_AWS_117",
            "comment": "No VPC resource to reach: DynamoDB, S3, SNS, SQS, KMS and API Gateway are "
            "IAM-authorised regional endpoints; a VPC adds NAT/endpoint cost and ENI cold starts.",
        },
        {
            "id": "CKV_AWS_115",
            "comment": "No reserved concurrency: it would carve a fixed slice out of the account pool "
            "and throttle above it; stream consumers are bounded by shards, async ones by retries.",
        },
        {"id": "CKV_AWS_116", "comment": dlq_reason},
    ]


def failure_resources(
    name: str, function_id: str, dlq_id: str, kind: str, delivery: dict[str, Any], app: Any
) -> dict[str, Any]:
    """The function's dead-letter queue, its depth alarm, and (by kind) the async invoke
    config or the stream iterator-age alarm."""
    dashed = name.replace("_", "-")
    dlq_rules = source_rules(delivery, "dead_letter_queue", name)
    resources: dict[str, Any] = {
        dlq_id: {
            "Type": "AWS::SQS::Queue",
            "Properties": {
                "QueueName": {"Fn::Sub": "${Prefix}-${Stage}-" + dashed + "-dlq"},
                "MessageRetentionPeriod": dlq_rules.get("MessageRetentionPeriod", 1209600),
                "KmsMasterKeyId": DATA_KEY_ARN,
            },
        },
        f"{function_id}DeadLetterAlarm": {
            "Type": "AWS::CloudWatch::Alarm",
            "Condition": "IsDeployed",
            "Properties": {
                "AlarmName": {"Fn::Sub": "${Prefix}-${Stage}-" + dashed + "-dlq-not-empty"},
                "AlarmDescription": f"{name} parked work in its dead-letter queue: records or events it "
                "gave up on (docs/operations.md, 'Parked events').",
                # Visible + in flight: reading the queue (make dlq) must not turn the alarm OK.
                "Metrics": [
                    *(
                        {
                            "Id": metric_id,
                            "ReturnData": False,
                            "MetricStat": {
                                "Metric": {
                                    "Namespace": "AWS/SQS",
                                    "MetricName": metric,
                                    "Dimensions": [
                                        {"Name": "QueueName", "Value": {"Fn::GetAtt": [dlq_id, "QueueName"]}}
                                    ],
                                },
                                "Period": 60,
                                "Stat": "Maximum",
                            },
                        }
                        for metric_id, metric in (
                            ("visible", "ApproximateNumberOfMessagesVisible"),
                            ("inflight", "ApproximateNumberOfMessagesNotVisible"),
                        )
                    ),
                    {
                        "Id": "parked",
                        "Label": "Parked messages",
                        "Expression": "visible + inflight",
                        "ReturnData": True,
                    },
                ],
                "EvaluationPeriods": 1,
                "DatapointsToAlarm": 1,
                "Threshold": 0,
                "ComparisonOperator": "GreaterThanThreshold",
                "TreatMissingData": "notBreaching",
                **ALARM_ACTIONS,
            },
        },
    }
    if kind == "stream":
        resources[f"{function_id}IteratorAgeAlarm"] = {
            "Type": "AWS::CloudWatch::Alarm",
            "Condition": "IsDeployed",
            "Properties": {
                "AlarmName": {"Fn::Sub": "${Prefix}-${Stage}-" + dashed + "-iterator-age"},
                "AlarmDescription": f"{name} lags the table's stream by more than IteratorAgeThresholdMs "
                "(its read model or events are late; records expire after 24 h).",
                "Namespace": "AWS/Lambda",
                "MetricName": "IteratorAge",
                "Dimensions": [{"Name": "FunctionName", "Value": {"Ref": function_id}}],
                "Statistic": "Maximum",
                "Period": 60,
                "EvaluationPeriods": 5,
                "DatapointsToAlarm": 3,
                "Threshold": {"Ref": "IteratorAgeThresholdMs"},
                "ComparisonOperator": "GreaterThanThreshold",
                "TreatMissingData": "notBreaching",
                **ALARM_ACTIONS,
            },
        }
    elif kind == "async":
        section = async_section(app, name)
        resources[f"{function_id}EventInvokeConfig"] = {
            "Type": "AWS::Lambda::EventInvokeConfig",
            "Properties": {
                "FunctionName": {"Ref": function_id},
                "Qualifier": "$LATEST",
                **source_rules(delivery, section, name),
                "DestinationConfig": {"OnFailure": {"Destination": {"Fn::GetAtt": [dlq_id, "Arn"]}}},
            },
        }
    return resources


def failure_alarm_names(resources: dict[str, Any]) -> list[str]:
    """The ``Fn::Sub`` names of the generated dead-letter and iterator-age alarms."""
    return [
        resource["Properties"]["AlarmName"]["Fn::Sub"]
        for logical_id, resource in resources.items()
        if resource.get("Type") == "AWS::CloudWatch::Alarm"
        and logical_id.endswith(("DeadLetterAlarm", "IteratorAgeAlarm"))
    ]


def add_failure_alarms_to_dashboard(resources: dict[str, Any], kinds: dict[str, str]) -> None:
    """List the generated alarms in the dashboard's alarm widget (after the static ones)."""
    dashboard = resources.get("Dashboard")
    if dashboard is None:
        return
    body = dashboard["Properties"]["DashboardBody"]["Fn::Sub"]
    if DASHBOARD_ALARMS_ANCHOR not in body:
        raise PackageError("the dashboard's alarm widget no longer ends with the sweeper alarm")
    extra = "".join(f', "{ALARM_ARN}{name}"' for name in failure_alarm_names(resources))
    dashboard["Properties"]["DashboardBody"]["Fn::Sub"] = body.replace(
        DASHBOARD_ALARMS_ANCHOR, DASHBOARD_ALARMS_ANCHOR + extra
    )


# --- API access logs and tracing ----------------------------------------------------------------

SMS_PUBLISH_SKIP = {
    "id": "CKV_AWS_111",
    "comment": "sns:Publish to a phone number (SMS verification codes) has no resource ARN, so the "
    "Allow must name '*'; the same policy Denies sns:Publish on every SNS ARN, so only SMS remain.",
}
API_CACHE_SKIP = {
    "id": "CKV_AWS_120",
    "comment": "No stage cache: every response is per caller (JWT) and changes with each write; "
    "a stage cache would serve stale lists or another user's data.",
}
ACCESS_LOG_FORMAT = {
    "requestId": "$context.requestId",
    "ip": "$context.identity.sourceIp",
    "requestTime": "$context.requestTime",
    "httpMethod": "$context.httpMethod",
    "resourcePath": "$context.resourcePath",
    "status": "$context.status",
    "responseLength": "$context.responseLength",
    "latencyMs": "$context.responseLatency",
    "integrationLatencyMs": "$context.integrationLatency",
    "xrayTraceId": "$context.xrayTraceId",
}
WEBSOCKET_ACCESS_LOG_FORMAT = {
    "requestId": "$context.requestId",
    "ip": "$context.identity.sourceIp",
    "requestTime": "$context.requestTime",
    "routeKey": "$context.routeKey",
    "eventType": "$context.eventType",
    "connectionId": "$context.connectionId",
    "status": "$context.status",
    "integrationLatencyMs": "$context.integrationLatency",
}


def _access_log_group(suffix: str) -> dict[str, Any]:
    return {
        "Type": "AWS::Logs::LogGroup",
        "Properties": {
            "LogGroupName": {"Fn::Sub": "/aws/apigateway/${Prefix}-${Stage}" + suffix},
            "RetentionInDays": {"Ref": "LogRetentionDays"},
            "KmsKeyId": DATA_KEY_ARN,
        },
    }


def api_access_logging() -> dict[str, Any]:
    """The REST API's access log group and API Gateway's account-level CloudWatch role.

    ``AWS::ApiGateway::Account`` is one setting per account and region: a stack that sets it
    replaces what another set (the role below only lets API Gateway write logs)."""
    return {
        "ApiAccessLogGroup": _access_log_group("-access"),
        "ApiGatewayCloudWatchRole": {
            "Type": "AWS::IAM::Role",
            "Properties": {
                "AssumeRolePolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "apigateway.amazonaws.com"},
                            "Action": "sts:AssumeRole",
                        }
                    ],
                },
                "ManagedPolicyArns": [
                    {
                        "Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/service-role/"
                        "AmazonAPIGatewayPushToCloudWatchLogs"
                    }
                ],
            },
        },
        "ApiGatewayAccount": {
            "Type": "AWS::ApiGateway::Account",
            "Properties": {"CloudWatchRoleArn": {"Fn::GetAtt": ["ApiGatewayCloudWatchRole", "Arn"]}},
        },
    }


def websocket_access_logging() -> dict[str, Any]:
    """The WebSocket API's access log group."""
    return {"WebsocketAccessLogGroup": _access_log_group("-websocket-access")}


def _secret(key: str) -> dict[str, Any]:
    """A Secrets Manager dynamic reference to one JSON key of the app secret (optionally pinned)."""
    base = "{{resolve:secretsmanager:${AppSecretsName}:SecretString:" + key
    return {
        "Fn::If": [
            "PinAppSecretsVersion",
            {"Fn::Sub": base + "::${AppSecretsVersionId}}}"},
            {"Fn::Sub": base + "}}"},
        ]
    }


def function_environment(app: Any, api_stage: str) -> dict[str, Any]:
    """Variables every function gets (SAM merges Globals into each; the stage config adds more)."""
    issuer = "https://cognito-idp.${AWS::Region}.${AWS::URLSuffix}/${CognitoUserPoolId}"
    variables: dict[str, Any] = {
        "TABLE_NAME": {"Ref": "Table"},
        "MEDIA_BUCKET": {"Ref": "MediaBucket"},
        "EVENTS_TOPIC_ARN": {"Ref": "EventsTopic"},
        "AUTH_ISSUER": {"Fn::Sub": issuer},
        "AUTH_AUDIENCE": {"Ref": "CognitoAppClientId"},
        "AUTH_JWKS_URL": {"Fn::Sub": issuer + "/.well-known/jwks.json"},
        "APNS_PLATFORM_APPLICATION_ARN": {"Ref": "ApnsPlatformApplicationArn"},
        "GCM_PLATFORM_APPLICATION_ARN": {"Ref": "GcmPlatformApplicationArn"},
        "SNAPSHOT_BASE_URL": SNAPSHOT_BASE_URL,
        **{variable: _secret(key) for variable, key in SECRET_KEYS.items()},
    }
    if app.websocket_handlers:
        host = "${WebsocketAPI}.execute-api.${AWS::Region}.${AWS::URLSuffix}/" + api_stage
        variables["WEBSOCKET_URL"] = {"Fn::Sub": "wss://" + host}
        variables["WEBSOCKET_MANAGEMENT_URL"] = {"Fn::Sub": "https://" + host}
    return variables


def chalice_stage_config(stage: str, root: Path = ROOT) -> dict[str, Any]:
    """The stage's section of ``.chalice/config.json`` merged over the top level."""
    config: dict[str, Any] = json.loads((root / ".chalice" / "config.json").read_text())
    merged = {k: v for k, v in config.items() if k != "stages"}
    merged.update(config.get("stages", {}).get(stage, {}))
    return merged


def build_merge_template(app: Any, stage: str, infra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The template ``chalice package --merge-template`` deep-merges into its own."""
    from chalice.app import DynamoDBEventConfig, SNSEventConfig

    config = chalice_stage_config(stage)
    if config.get("manage_iam_role", True) or config.get("autogen_policy", False):
        raise PackageError(
            f"stage {stage!r} must set manage_iam_role=false in .chalice/config.json: "
            "the merge template defines one role per function"
        )
    api_stage = str(config.get("api_gateway_stage", "api"))
    merge = infra if infra is not None else load_infra_template()
    parameters = merge.setdefault("Parameters", {})
    parameters.setdefault("Stage", {})["Default"] = stage
    parameters.setdefault("ApiStage", {"Type": "String"})["Default"] = api_stage
    parameters.update(json.loads(json.dumps(FUNCTION_PARAMETERS)))
    prefix = parameters.get("Prefix", {}).get("Default", "socialvideo")
    parameters["AppSecretsName"]["Default"] = f"{prefix}/{stage}/app"
    conditions = merge.setdefault("Conditions", {})
    conditions["PinAppSecretsVersion"] = {"Fn::Not": [{"Fn::Equals": [{"Ref": "AppSecretsVersionId"}, ""]}]}
    conditions["HasSnapshotBaseUrl"] = {"Fn::Not": [{"Fn::Equals": [{"Ref": "SnapshotBaseUrl"}, ""]}]}
    resources = merge.setdefault("Resources", {})
    topics = topic_resources(merge)
    variables = function_environment(app, api_stage)
    referenced = {v["Ref"] for v in variables.values() if isinstance(v, dict) and "Ref" in v}
    merge["Globals"] = {"Function": {"Environment": {"Variables": variables}, "KmsKeyArn": DATA_KEY_ARN}}
    delivery = delivery_rules()
    kinds = invocation_kinds(app)
    for name, function_id in app_functions(app).items():
        log_group_id, role_id = f"{function_id}LogGroup", f"{function_id}Role"
        kind = kinds.get(name, "sync")
        dlq_id = f"{function_id}DeadLetterQueue" if kind in ("stream", "async") else None
        resources[log_group_id] = {
            "Type": "AWS::Logs::LogGroup",
            "Properties": {
                "LogGroupName": {"Fn::Sub": "/aws/lambda/${Prefix}-${Stage}-" + name.replace("_", "-")},
                "RetentionInDays": {"Ref": "LogRetentionDays"},
                # The key policy lets CloudWatch Logs use the data key for these log groups.
                "KmsKeyId": DATA_KEY_ARN,
            },
        }
        resources[role_id] = function_role(name, log_group_id, api_stage, dlq_id)
        resources[function_id] = {
            # The log group exists (with its retention) before the function can write to it.
            "DependsOn": [log_group_id],
            "Metadata": {"checkov": {"skip": function_checkov_skips(kind)}},
            "Properties": {"FunctionName": function_name(name), "Role": {"Fn::GetAtt": [role_id, "Arn"]}},
        }
        if dlq_id:
            resources.update(failure_resources(name, function_id, dlq_id, kind, delivery, app))
            # The function's own queue: the outbox publisher parks events SNS refused for good.
            resources[function_id]["Properties"]["Environment"] = {
                "Variables": {"PARKED_EVENTS_QUEUE_URL": {"Ref": dlq_id}}
            }
    if app.routes:
        resources.update(api_access_logging())
        # Named for the alarms' ApiName; detailed metrics give per-route (Method, Resource) latency.
        resources["RestAPI"] = {
            # API Gateway writes access logs only once the account's CloudWatch role is set.
            "DependsOn": ["ApiGatewayAccount"],
            "Metadata": {"checkov": {"skip": [API_CACHE_SKIP]}},
            "Properties": {
                "Name": {"Fn::Sub": "${Prefix}-${Stage}"},
                "MethodSettings": [{"ResourcePath": "/*", "HttpMethod": "*", "MetricsEnabled": True}],
                "TracingEnabled": True,
                "AccessLogSetting": {
                    "DestinationArn": {"Fn::GetAtt": ["ApiAccessLogGroup", "Arn"]},
                    "Format": json.dumps(ACCESS_LOG_FORMAT, separators=(",", ":")),
                },
            },
        }
    if app.websocket_handlers:
        resources.update(websocket_access_logging())
        resources["WebsocketAPIStage"] = {
            "DependsOn": ["ApiGatewayAccount"],
            "Properties": {
                "AccessLogSettings": {
                    "DestinationArn": {"Fn::GetAtt": ["WebsocketAccessLogGroup", "Arn"]},
                    "Format": json.dumps(WEBSOCKET_ACCESS_LOG_FORMAT, separators=(",", ":")),
                }
            },
        }
    for config_ in app.event_sources:
        function_id = to_cfn(config_.name)
        if isinstance(config_, DynamoDBEventConfig):
            event_id = to_cfn(config_.name + "-dynamodb-event-source")
            rules = source_rules(delivery, "dynamodb_stream", config_.name)
            if not reports_partial_failures(app, config_.name):
                # A handler that raises on failure (the projectors): Lambda bisects the batch.
                rules.pop("FunctionResponseTypes", None)
            resources[function_id]["Properties"]["Events"] = {
                event_id: {
                    "Properties": {
                        "Stream": STREAM_ARN,
                        **rules,
                        "DestinationConfig": {
                            "OnFailure": {
                                "Destination": {"Fn::GetAtt": [f"{function_id}DeadLetterQueue", "Arn"]}
                            }
                        },
                    }
                }
            }
            if config_.name in STREAM_FILTERS:
                # Lambda drops the other records before invoking (no invocation per table change).
                resources[function_id]["Properties"]["Events"][event_id]["Properties"]["FilterCriteria"] = {
                    "Filters": [
                        {"Pattern": json.dumps(p, separators=(",", ":"))}
                        for p in STREAM_FILTERS[config_.name]
                    ]
                }
        elif isinstance(config_, SNSEventConfig):
            topic = config_.topic.rsplit(":", 1)[-1]
            if topic not in topics:
                raise PackageError(f"{config_.name} subscribes to {topic!r}, which infra/template.yaml lacks")
            # Chalice refers to the topic by name: make the subscription wait for its creation
            # (a Ref in the environment already does that; cfn-lint flags a redundant DependsOn).
            if topics[topic] not in referenced:
                resources[function_id]["DependsOn"].append(topics[topic])
    add_failure_alarms_to_dashboard(resources, kinds)
    return merge


def check_artifact(sam: dict[str, Any], app: Any) -> None:
    """Every stream consumer reads the table's stream; the stateful resources are there; every
    function runs under its own role from the merge template (no Chalice-generated role)."""
    from chalice.app import DynamoDBEventConfig

    resources = sam["Resources"]
    invoke_configs = {
        r["Properties"]["FunctionName"]["Ref"]
        for r in resources.values()
        if r.get("Type") == "AWS::Lambda::EventInvokeConfig"
    }
    for config in app.event_sources:
        function_id = _cfn_name(config.name)
        if isinstance(config, DynamoDBEventConfig):
            function = resources[function_id]
            for event in function["Properties"]["Events"].values():
                if event["Properties"]["Stream"] != STREAM_ARN:
                    raise PackageError(f"{config.name} does not read Table.StreamArn")
                if "OnFailure" not in event["Properties"].get("DestinationConfig", {}):
                    raise PackageError(f"{config.name}'s stream mapping has no on-failure destination")
        elif type(config).__name__ in ASYNC_SECTIONS and function_id not in invoke_configs:
            raise PackageError(f"{config.name} is invoked asynchronously without an EventInvokeConfig")
    for name in ("Table", "MediaBucket", "EventsTopic", "VideoEventsTopic", "DataKey"):
        if name not in resources:
            raise PackageError(f"{name} is missing from the merged template")
    for logical_id, resource in resources.items():
        if resource.get("Type") == "AWS::Serverless::Function":
            role = resource["Properties"].get("Role")
            if role != {"Fn::GetAtt": [f"{logical_id}Role", "Arn"]}:
                raise PackageError(f"{logical_id} does not run under its own role {logical_id}Role: {role!r}")
        if resource.get("Type") == "AWS::IAM::Role" and not logical_id.endswith("Role"):
            raise PackageError(f"unexpected role {logical_id} (Chalice-managed roles must be off)")


def _cfn_name(name: str) -> str:
    from chalice.utils import to_cfn_resource_name

    return to_cfn_resource_name(name)


def run_chalice_package(stage: str, merge_template: Path, out: Path) -> str:
    """Run ``chalice package``; raise when dependencies could not be installed."""
    env = {**os.environ, "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", "us-east-1")}
    chalice = Path(sys.executable).with_name("chalice")
    result = subprocess.run(
        [str(chalice), "package", "--stage", stage, "--merge-template", str(merge_template), str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    output = result.stdout + result.stderr
    if result.returncode != 0 or DEPENDENCY_FAILURE in output:
        raise PackageError(f"chalice package failed:\n{output}")
    return output


def package(stage: str, out: Path) -> Path:
    """Build ``out/sam.json`` and ``out/deployment.zip`` for ``stage``; returns ``out``."""
    sys.path.insert(0, str(ROOT))
    import app as chalice_app

    with _package_lock():
        return _package_locked(chalice_app.app, stage, out)


@contextmanager
def _package_lock() -> Iterator[None]:
    """One packaging at a time per working tree (``build/`` is shared; pytest-xdist workers
    and ``make package`` may run together)."""
    import fcntl

    LOCK_DIR.mkdir(exist_ok=True)
    with open(LOCK_DIR / "package.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _package_locked(app: Any, stage: str, out: Path) -> Path:
    """Steps 1-4 of the module docstring (the caller holds the packaging lock)."""
    out.mkdir(parents=True, exist_ok=True)
    merge_path = out / "merge-template.json"
    merge_path.write_text(json.dumps(build_merge_template(app, stage), indent=2))
    # chalice package refuses a non-empty output dir only for some formats; start clean.
    for name in ("sam.json", "deployment.zip"):
        (out / name).unlink(missing_ok=True)
    output = run_chalice_package(stage, merge_path, out)
    check_artifact(json.loads((out / "sam.json").read_text()), app)
    noisy = [line for line in output.splitlines() if re.search(r"warn|error", line, re.IGNORECASE)]
    for line in noisy:
        print(line)
    return out


def main() -> None:
    """``python -m infra.package --stage prod --out build``."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--stage", default="prod")
    parser.add_argument("--out", default="build")
    args = parser.parse_args()
    try:
        out = package(args.stage, (ROOT / args.out).resolve())
    except PackageError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(1)
    print(f"packaged stage {args.stage}: {out / 'sam.json'} and {out / 'deployment.zip'}")


if __name__ == "__main__":
    main()
