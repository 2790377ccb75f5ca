"""``make package``: the deployable SAM/CloudFormation artifact in ``build/``.

1. Copy ``functions/`` into the git-ignored ``vendor/`` (Chalice packages only ``app.py``,
   ``chalicelib/`` and ``vendor/``; a requirements path or wheel would package stale code).
2. Build ``build/merge-template.json`` from ``infra/template.yaml`` (the same stateful
   resources ``make run`` deploys locally, plus the KMS key, alarms and dashboard) and what
   Chalice cannot express:
   - IAM: the stage sets ``manage_iam_role: false`` (Chalice generates no role and no policy);
     every function gets its own ``<Function>Role`` here with an explicit policy naming its
     resources (``FUNCTION_ACCESS``): the table (+ ``/index/*``; ``/stream/*`` for the two
     stream consumers), bucket prefixes, the events topic, push platform applications, the
     WebSocket API's ``@connections``; plus its own log group and the data key.
   - names: function ``x_y`` is ``<Prefix>-<Stage>-x-y`` (the alarms use these names), the REST
     API is ``<Prefix>-<Stage>`` with per-route metrics on.
   - environment (SAM Globals): the resources, Cognito issuer/audience/JWKS URL from
     parameters, secrets as Secrets Manager dynamic references, the snapshot CDN's URL
     (``SnapshotDistribution``), encrypted with the data key.
   - every DynamoDB stream consumer reads ``Table.StreamArn`` from TRIM_HORIZON with partial
     batch failures; SNS subscriptions wait for their topic.
3. ``chalice package --stage STAGE --merge-template build/merge-template.json build/``, failing
   when Chalice reports "Could not install dependencies" (it exits 0 in that case).
4. Check the result: every stream event source points at the table's stream, every function
   runs under its own role.

``python -m local.package --stage prod --out build``
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "infra" / "template.yaml"
VENDOR = ROOT / "vendor"
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


def vendor_functions(root: Path = ROOT) -> Path:
    """Fresh copy of ``functions/`` into ``vendor/functions`` (no caches)."""
    target = root / "vendor" / "functions"
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(root / "functions", target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return target


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
    # (+ exports/ reads: the export status signs the archive's GET.)
    "api_handler": (
        "table_rw",
        "attachments_rw",
        "live_read",
        "thumbnails_read",
        "push_endpoints",
        "exports_read",
    ),
    "websocket_connect": ("table_rw", "connections"),
    "websocket_message": ("table_rw", "connections"),
    "websocket_disconnect": ("table_rw", "connections"),
    "share_video_events": ("table_rw",),
    # The outbox publisher reads the stream (and a few items to build events), publishes events.
    "notify_publish_outbox": ("stream", "table_read", "events_publish"),
    "notify_push_event": ("table_rw", "push_send"),
    "checkout_expire_orders": ("table_rw",),
    "realtime_deliver": ("table_rw", "connections"),
    # Projections: inbox read models in the table, chat snapshots in the bucket.
    "project_changes": ("stream", "table_rw", "live_rw"),
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
        "Description": "Cognito app client id: the tokens' aud (ID token) / client_id (access token).",
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
# only), unless the SnapshotBaseUrl parameter overrides it.
SNAPSHOT_BASE_URL = {
    "Fn::If": [
        "HasSnapshotBaseUrl",
        {"Ref": "SnapshotBaseUrl"},
        {"Fn::If": ["IsDeployed", {"Fn::Sub": "https://${SnapshotDistribution.DomainName}"}, ""]},
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
    frame; DELETE: close a socket)."""
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
        "connections_close": [
            {
                "Sid": "WebSocketClose",
                "Action": ["execute-api:ManageConnections"],
                "Resource": _connections_arn(api_stage, "DELETE"),
            }
        ],
    }
    if grant not in grants:
        raise PackageError(f"unknown access grant {grant!r}")
    return [{"Effect": "Allow", **statement} for statement in grants[grant]]


def function_role(name: str, log_group_id: str, api_stage: str) -> dict[str, Any]:
    """The function's own execution role: its log group, the data key, and its grants."""
    if name not in FUNCTION_ACCESS:
        raise PackageError(f"function {name!r} has no entry in local/package.py FUNCTION_ACCESS")
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
    for grant in FUNCTION_ACCESS[name]:
        statements += _grant_statements(grant, api_stage)
    return {
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
    for name, function_id in app_functions(app).items():
        log_group_id, role_id = f"{function_id}LogGroup", f"{function_id}Role"
        resources[log_group_id] = {
            "Type": "AWS::Logs::LogGroup",
            "Properties": {
                "LogGroupName": {"Fn::Sub": "/aws/lambda/${Prefix}-${Stage}-" + name.replace("_", "-")},
                "RetentionInDays": {"Ref": "LogRetentionDays"},
            },
        }
        resources[role_id] = function_role(name, log_group_id, api_stage)
        resources[function_id] = {
            # The log group exists (with its retention) before the function can write to it.
            "DependsOn": [log_group_id],
            "Properties": {"FunctionName": function_name(name), "Role": {"Fn::GetAtt": [role_id, "Arn"]}},
        }
    if app.routes:
        # Named for the alarms' ApiName; detailed metrics give per-route (Method, Resource) latency.
        resources["RestAPI"] = {
            "Properties": {
                "Name": {"Fn::Sub": "${Prefix}-${Stage}"},
                "MethodSettings": [{"ResourcePath": "/*", "HttpMethod": "*", "MetricsEnabled": True}],
            }
        }
    for config_ in app.event_sources:
        function_id = to_cfn(config_.name)
        if isinstance(config_, DynamoDBEventConfig):
            event_id = to_cfn(config_.name + "-dynamodb-event-source")
            resources[function_id]["Properties"]["Events"] = {
                event_id: {
                    "Properties": {
                        "Stream": STREAM_ARN,
                        # An outbox must see every change since the table was created.
                        "StartingPosition": "TRIM_HORIZON",
                        "FunctionResponseTypes": ["ReportBatchItemFailures"],
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
    return merge


def check_artifact(sam: dict[str, Any], app: Any) -> None:
    """Every stream consumer reads the table's stream; the stateful resources are there; every
    function runs under its own role from the merge template (no Chalice-generated role)."""
    from chalice.app import DynamoDBEventConfig

    resources = sam["Resources"]
    for config in app.event_sources:
        if isinstance(config, DynamoDBEventConfig):
            function = resources[_cfn_name(config.name)]
            for event in function["Properties"]["Events"].values():
                if event["Properties"]["Stream"] != STREAM_ARN:
                    raise PackageError(f"{config.name} does not read Table.StreamArn")
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
    """One packaging at a time per working tree (``vendor/`` is shared; pytest-xdist workers
    and ``make package`` may run together)."""
    import fcntl

    VENDOR.mkdir(exist_ok=True)
    with open(VENDOR / ".package.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _package_locked(app: Any, stage: str, out: Path) -> Path:
    """Steps 1-4 of the module docstring (the caller holds the packaging lock)."""
    vendor_functions()
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
    """``python -m local.package --stage prod --out build``."""
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
