"""The packaged production template (issue 11): least-privilege IAM per function, data
protection with a customer-managed key, Cognito settings and secrets from parameters, the
live-chat snapshot CDN, alarms and a dashboard whose names match the packaged functions.
Reuses the session's single ``chalice package`` run (``tests/integration/test_package.py::prod_build``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from infra.package import FUNCTION_ACCESS, PackageError, app_functions, build_merge_template
from tests.integration.test_package import prod_build

DATA_SERVICES = ("dynamodb", "s3", "sns", "sqs", "kms", "execute-api")
PARAMETERS = {"Prefix": "socialvideo", "Stage": "prod", "ApiStage": "v1"}


@pytest.fixture(scope="module")
def sam() -> dict[str, Any]:
    """The generated SAM template of the session's prod package."""
    template: dict[str, Any] = json.loads((prod_build() / "sam.json").read_text())
    return template


def resolve(value: Any) -> str:
    """A ``Fn::Sub`` of the stack's name parameters as the literal it deploys to."""
    text = value["Fn::Sub"] if isinstance(value, dict) else value
    for name, literal in PARAMETERS.items():
        text = text.replace("${" + name + "}", literal)
    return str(text)


def of_type(sam: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    """Resources of one type by logical id."""
    return {k: v for k, v in sam["Resources"].items() if v["Type"] == kind}


def allow_statements(sam: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every Allow statement of every IAM role and policy, with its owner's logical id."""
    for logical_id, resource in sam["Resources"].items():
        documents: list[dict[str, Any]] = []
        if resource["Type"] == "AWS::IAM::Role":
            documents = [p["PolicyDocument"] for p in resource["Properties"].get("Policies", [])]
        elif resource["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            documents = [resource["Properties"]["PolicyDocument"]]
        for document in documents:
            for statement in document["Statement"]:
                if statement["Effect"] == "Allow":
                    yield logical_id, statement


def as_list(value: Any) -> list[Any]:
    """A policy field that may be one value or a list."""
    return value if isinstance(value, list) else [value]


def is_wildcard(resource: Any) -> bool:
    """``*``, or an ARN whose resource part is only a wildcard (``arn:…:sns:r:a:*``)."""
    text = (
        resource
        if isinstance(resource, str)
        else resource.get("Fn::Sub")
        if isinstance(resource, dict)
        else None
    )
    if not isinstance(text, str):
        return False  # Ref / GetAtt / Join of a specific resource
    return text == "*" or bool(re.search(r"(^|:)\*$", text))


def role_statements(sam: dict[str, Any], function_id: str) -> list[dict[str, Any]]:
    """The Allow statements of one function's role."""
    role_id = sam["Resources"][function_id]["Properties"]["Role"]["Fn::GetAtt"][0]
    return [s for owner, s in allow_statements(sam) if owner == role_id]


def resources_for(statements: list[dict[str, Any]], action_prefix: str) -> list[Any]:
    """Resources of the statements granting any action of a service."""
    return [
        r
        for s in statements
        if any(a.startswith(action_prefix) for a in as_list(s["Action"]))
        for r in as_list(s["Resource"])
    ]


# --- IAM -------------------------------------------------------------------------------------


def test_every_packaged_function_runs_under_its_own_role_with_an_explicit_policy(sam: dict[str, Any]) -> None:
    from app import app

    # Given the packaged functions
    functions = of_type(sam, "AWS::Serverless::Function")

    # Then they are exactly the app's functions, each with its own role and a named deployment
    assert set(functions) == set(app_functions(app).values())
    roles = [f["Properties"]["Role"] for f in functions.values()]
    assert all(set(r) == {"Fn::GetAtt"} for r in roles)
    assert len({json.dumps(r) for r in roles}) == len(functions), "two functions share a role"
    for function_id, function in functions.items():
        statements = role_statements(sam, function_id)
        assert resources_for(statements, "dynamodb:"), f"{function_id} has no explicit table policy"
        assert resolve(function["Properties"]["FunctionName"]).startswith("socialvideo-prod-")
    # And Chalice generated no role of its own (its auto-generated policy is off)
    assert "DefaultRole" not in sam["Resources"]
    assert not of_type(sam, "AWS::IAM::Policy")


def _sms_only(sam: dict[str, Any], owner: str) -> bool:
    """The owner's SMS Allow (``"*"``: a phone number has no ARN) is narrowed by a Deny of
    ``sns:Publish`` on every SNS ARN, so it can publish SMS and nothing else."""
    role = sam["Resources"][owner]
    statements = [s for p in role["Properties"].get("Policies", []) for s in p["PolicyDocument"]["Statement"]]
    return any(
        s["Effect"] == "Deny"
        and as_list(s["Action"]) == ["sns:Publish"]
        and s["Resource"] == {"Fn::Sub": "arn:${AWS::Partition}:sns:*:*:*"}
        for s in statements
    )


def test_no_data_service_permission_uses_a_wildcard_resource(sam: dict[str, Any]) -> None:
    # Given every Allow statement in the template (but SMS, which only "*" can name, when a Deny
    # keeps it to SMS)
    offending = [
        (owner, statement.get("Sid"), resource)
        for owner, statement in allow_statements(sam)
        if not (statement.get("Sid") == "SendSms" and _sms_only(sam, owner))
        if any(a == "*" or a.split(":")[0] in DATA_SERVICES for a in as_list(statement["Action"]))
        for resource in as_list(statement["Resource"])
        if is_wildcard(resource)
    ]
    wildcard_actions = [
        (owner, action)
        for owner, statement in allow_statements(sam)
        for action in as_list(statement["Action"])
        if action == "*" or action.endswith(":*")
    ]

    # Then none names "*" (or a whole service) for data services, and no action is a wildcard
    assert offending == []
    assert wildcard_actions == []


def test_only_the_stream_consumers_may_read_the_tables_stream(sam: dict[str, Any]) -> None:
    # Given the functions fed by the table's stream: the outbox and one per read model
    functions = of_type(sam, "AWS::Serverless::Function")
    consumers = {
        k
        for k, f in functions.items()
        if any(e["Type"] == "DynamoDB" for e in f["Properties"].get("Events", {}).values())
    }
    assert consumers == {
        "NotifyPublishOutbox",
        "ProjectInbox",
        "ProjectLiveSnapshots",
        "ProjectShareInteractions",
        "AccountJobs",  # erasure/export (issue 20): rare INSERTs, filtered by Lambda
    }

    # Then exactly they hold stream permissions, scoped to the table's streams
    for function_id in functions:
        stream = [
            r
            for r in resources_for(role_statements(sam, function_id), "dynamodb:")
            if isinstance(r, dict) and "/stream/" in r.get("Fn::Sub", "")
        ]
        if function_id in consumers:
            assert stream == [{"Fn::Sub": "${Table.Arn}/stream/*"}]
        else:
            assert stream == [], function_id


def test_table_permissions_name_only_the_table_and_its_indexes(sam: dict[str, Any]) -> None:
    allowed = [
        {"Fn::GetAtt": ["Table", "Arn"]},
        {"Fn::Sub": "${Table.Arn}/index/*"},
        {"Fn::Sub": "${Table.Arn}/stream/*"},
    ]
    for function_id in of_type(sam, "AWS::Serverless::Function"):
        for resource in resources_for(role_statements(sam, function_id), "dynamodb:"):
            assert resource in allowed, (function_id, resource)


def test_bucket_permissions_are_limited_to_object_prefixes(sam: dict[str, Any]) -> None:
    # Given every S3 grant of every function
    granted = {
        function_id: {
            r["Fn::Sub"]
            for r in resources_for(role_statements(sam, function_id), "s3:")
            if isinstance(r, dict)
        }
        for function_id in of_type(sam, "AWS::Serverless::Function")
    }

    # Then each names a prefix of the media bucket; besides the API, the projections and the sweeper of
    # unsent uploads, only the outbox publisher (writes) and the events topic's consumers (read) touch
    # events/ (claim checks)
    prefixes = {p for grants in granted.values() for p in grants}
    assert prefixes <= {
        "${MediaBucket.Arn}/attachments/*",
        "${MediaBucket.Arn}/live/*",
        "${MediaBucket.Arn}/${ThumbnailKeyPrefix}/*",
        "${MediaBucket.Arn}/events/*",
        "${MediaBucket.Arn}/exports/*",
        "${MediaBucket.Arn}",  # listing, for the account jobs only, conditioned on s3:prefix
    }
    assert {k for k, v in granted.items() if "${MediaBucket.Arn}" in v} == {"AccountJobs"}
    assert {k for k, v in granted.items() if v} == {
        "APIHandler",
        "ProjectLiveSnapshots",
        "ProjectInbox",
        "DmSweepUploads",
        "NotifyPublishOutbox",
        "NotifyPushEvent",
        "RealtimeDeliver",
        "AccountJobs",
    }
    claim_check_readers = {k for k, v in granted.items() if "${MediaBucket.Arn}/events/*" in v}
    assert claim_check_readers == {"NotifyPublishOutbox", "NotifyPushEvent", "RealtimeDeliver"}


def test_sns_permissions_name_the_events_topic_or_the_push_platforms(sam: dict[str, Any]) -> None:
    publishers = {
        function_id: resources_for(role_statements(sam, function_id), "sns:")
        for function_id in of_type(sam, "AWS::Serverless::Function")
    }
    assert publishers["NotifyPublishOutbox"] == [{"Ref": "EventsTopic"}]
    for function_id in ("APIHandler", "NotifyPushEvent", "AccountJobs"):
        text = json.dumps(publishers[function_id])
        assert "PlatformApplicationArn" in text and "EventsTopic" not in text
    assert {k for k, v in publishers.items() if v} == {
        "NotifyPublishOutbox",
        "NotifyPushEvent",
        "APIHandler",
        "AccountJobs",
    }


def test_realtime_functions_may_post_only_to_the_websocket_apis_connections(sam: dict[str, Any]) -> None:
    managing = {
        function_id: resources_for(role_statements(sam, function_id), "execute-api:")
        for function_id in of_type(sam, "AWS::Serverless::Function")
    }
    base = "arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:${WebsocketAPI}/v1"
    post = {"Fn::Sub": base + "/POST/@connections/*"}
    delete = {"Fn::Sub": base + "/DELETE/@connections/*"}
    # Posting frames: the WebSocket routes and the events subscriber
    assert {k for k, v in managing.items() if post in v} == {
        "WebsocketConnect",
        "WebsocketMessage",
        "WebsocketDisconnect",
        "RealtimeDeliver",
    }
    # Closing connections whose token expired: where delivery happens, and the sweeper
    assert {k for k, v in managing.items() if delete in v} == {
        "WebsocketMessage",
        "RealtimeDeliver",
        "RealtimeSweepExpired",
        "AccountJobs",
    }
    assert all(set(map(json.dumps, v)) <= {json.dumps(post), json.dumps(delete)} for v in managing.values())


def test_logs_permissions_name_the_functions_own_log_group(sam: dict[str, Any]) -> None:
    for function_id, function in of_type(sam, "AWS::Serverless::Function").items():
        log_group = sam["Resources"][f"{function_id}LogGroup"]
        assert resolve(log_group["Properties"]["LogGroupName"]) == "/aws/lambda/" + resolve(
            function["Properties"]["FunctionName"]
        )
        assert resources_for(role_statements(sam, function_id), "logs:") == [
            {"Fn::GetAtt": [f"{function_id}LogGroup", "Arn"]}
        ]


def test_a_function_without_declared_access_fails_the_build() -> None:
    # Given an app with a handler that infra/package.py does not know
    app = SimpleNamespace(
        routes={},
        websocket_handlers={},
        event_sources=[],
        pure_lambda_functions=[SimpleNamespace(name="mystery_job")],
    )
    assert "mystery_job" not in FUNCTION_ACCESS

    # When the merge template is built / Then packaging refuses it
    with pytest.raises(PackageError, match="mystery_job"):
        build_merge_template(app, "prod")


# --- Data protection -------------------------------------------------------------------------


def test_table_and_bucket_are_encrypted_with_a_rotating_customer_managed_key(sam: dict[str, Any]) -> None:
    resources = sam["Resources"]
    key = resources["DataKey"]
    assert key["Type"] == "AWS::KMS::Key"
    assert key["Properties"]["EnableKeyRotation"] is True
    assert resources["DataKeyAlias"]["Properties"]["TargetKeyId"] == {"Ref": "DataKey"}

    table = resources["Table"]["Properties"]
    assert table["SSESpecification"] == {
        "SSEEnabled": True,
        "SSEType": "KMS",
        "KMSMasterKeyId": {"Fn::GetAtt": ["DataKey", "Arn"]},
    }
    assert table["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}

    bucket = resources["MediaBucket"]["Properties"]
    (rule,) = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"] == {
        "SSEAlgorithm": "aws:kms",
        "KMSMasterKeyID": {"Fn::GetAtt": ["DataKey", "Arn"]},
    }
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    assert all(
        bucket["PublicAccessBlockConfiguration"][k] is True
        for k in ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets")
    )


def test_the_bucket_denies_requests_without_tls(sam: dict[str, Any]) -> None:
    policy = sam["Resources"]["MediaBucketPolicy"]
    assert policy["Properties"]["Bucket"] == {"Ref": "MediaBucket"}
    (statement,) = [s for s in policy["Properties"]["PolicyDocument"]["Statement"] if s["Effect"] == "Deny"]
    assert statement["Principal"] == "*"
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert statement["Resource"] == [
        {"Fn::GetAtt": ["MediaBucket", "Arn"]},
        {"Fn::Sub": "${MediaBucket.Arn}/*"},
    ]


def test_functions_may_use_only_the_stacks_key(sam: dict[str, Any]) -> None:
    for function_id in of_type(sam, "AWS::Serverless::Function"):
        kms = [s for s in role_statements(sam, function_id) if any(a.startswith("kms:") for a in s["Action"])]
        assert kms == [
            {
                "Sid": "DataKey",
                "Effect": "Allow",
                "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
                "Resource": {"Fn::GetAtt": ["DataKey", "Arn"]},
            }
        ]
    assert sam["Globals"]["Function"]["KmsKeyArn"] == {"Fn::GetAtt": ["DataKey", "Arn"]}


# --- Live-chat snapshot CDN --------------------------------------------------------------------

DISTRIBUTION_ARN = {
    "Fn::Sub": "arn:${AWS::Partition}:cloudfront::${AWS::AccountId}:distribution/${SnapshotDistribution}"
}
ONLY_THE_DISTRIBUTION = {"StringEquals": {"AWS:SourceArn": DISTRIBUTION_ARN}}


def test_the_snapshot_cdn_serves_the_bucket_over_https_through_origin_access_control(
    sam: dict[str, Any],
) -> None:
    resources = sam["Resources"]
    distribution = resources["SnapshotDistribution"]
    config = distribution["Properties"]["DistributionConfig"]

    # One origin, the media bucket, reached with CloudFront's signed requests (no public bucket)
    (origin,) = config["Origins"]
    bucket_name = resolve(resources["MediaBucket"]["Properties"]["BucketName"])
    assert resolve(origin["DomainName"]).startswith(bucket_name + ".s3.${AWS::Region}.")
    assert origin["OriginAccessControlId"] == {"Fn::GetAtt": ["SnapshotOriginAccessControl", "Id"]}
    assert origin["S3OriginConfig"] == {"OriginAccessIdentity": ""}
    oac = resources["SnapshotOriginAccessControl"]["Properties"]["OriginAccessControlConfig"]
    assert (oac["OriginAccessControlOriginType"], oac["SigningBehavior"], oac["SigningProtocol"]) == (
        "s3",
        "always",
        "sigv4",
    )

    # A live/* behaviour: HTTPS only, compressed, polling TTLs, CORS for the apps
    (live,) = config["CacheBehaviors"]
    assert live["PathPattern"] == "live/*"
    assert live["TargetOriginId"] == origin["Id"]
    assert live["Compress"] is True
    assert live["CachePolicyId"] == {"Ref": "SnapshotCachePolicy"}
    assert live["ResponseHeadersPolicyId"] == {"Ref": "SnapshotCorsPolicy"}
    assert set(live["AllowedMethods"]) <= {"GET", "HEAD", "OPTIONS"}
    for behaviour in (live, config["DefaultCacheBehavior"]):
        assert behaviour["ViewerProtocolPolicy"] in ("redirect-to-https", "https-only")
    cache = resources["SnapshotCachePolicy"]["Properties"]["CachePolicyConfig"]
    assert (cache["MinTTL"], cache["DefaultTTL"], cache["MaxTTL"]) == (0, 1, 2)
    assert cache["ParametersInCacheKeyAndForwardedToOrigin"]["QueryStringsConfig"] == {
        "QueryStringBehavior": "none"
    }
    cors = resources["SnapshotCorsPolicy"]["Properties"]["ResponseHeadersPolicyConfig"]["CorsConfig"]
    assert "GET" in cors["AccessControlAllowMethods"]["Items"]
    assert cors["AccessControlAllowCredentials"] is False
    assert config["PriceClass"] == "PriceClass_100"
    assert config["Enabled"] is True

    # AWS only, like the alarms; the stack outputs its domain
    for logical_id in (
        "SnapshotDistribution",
        "SnapshotOriginAccessControl",
        "SnapshotCachePolicy",
        "SnapshotCorsPolicy",
    ):
        assert resources[logical_id]["Condition"] == "IsDeployed"
    assert sam["Outputs"]["SnapshotDistributionDomainName"]["Value"] == {
        "Fn::GetAtt": ["SnapshotDistribution", "DomainName"]
    }


def test_the_bucket_lets_only_the_distribution_read_only_live_objects(sam: dict[str, Any]) -> None:
    # Given the bucket policy's Allow statements
    statements = sam["Resources"]["MediaBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    allows = [s for s in statements if s["Effect"] == "Allow"]

    # Then the only one lets this distribution (no public principal) GET live/* objects
    assert allows == [
        {
            "Sid": "SnapshotDistributionReadsLive",
            "Effect": "Allow",
            "Principal": {"Service": "cloudfront.amazonaws.com"},
            "Action": "s3:GetObject",
            "Resource": {"Fn::Sub": "${MediaBucket.Arn}/live/*"},
            "Condition": ONLY_THE_DISTRIBUTION,
        }
    ]
    assert all(s["Principal"] != "*" for s in allows)


def test_the_data_key_lets_only_the_distribution_decrypt_for_cloudfront(sam: dict[str, Any]) -> None:
    statements = sam["Resources"]["DataKey"]["Properties"]["KeyPolicy"]["Statement"]
    cloudfront = [s for s in statements if "cloudfront" in json.dumps(s)]
    assert cloudfront == [
        {
            "Fn::If": [
                "IsDeployed",
                {
                    "Sid": "SnapshotDistributionDecrypts",
                    "Effect": "Allow",
                    "Principal": {"Service": "cloudfront.amazonaws.com"},
                    "Action": "kms:Decrypt",
                    "Resource": "*",
                    "Condition": ONLY_THE_DISTRIBUTION,
                },
                {"Ref": "AWS::NoValue"},
            ]
        }
    ]


def test_functions_hand_out_snapshot_urls_on_the_distribution(sam: dict[str, Any]) -> None:
    variables = sam["Globals"]["Function"]["Environment"]["Variables"]
    override, default = variables["SNAPSHOT_BASE_URL"]["Fn::If"][1:]
    assert override == {"Ref": "SnapshotBaseUrl"}
    assert sam["Parameters"]["SnapshotBaseUrl"]["Default"] == ""
    assert default == {
        "Fn::If": [
            "HasSnapshotDomain",
            {"Fn::Sub": "https://${SnapshotDomainName}"},
            {"Fn::If": ["IsDeployed", {"Fn::Sub": "https://${SnapshotDistribution.DomainName}"}, ""]},
        ]
    }
    # The stage config does not shadow it
    for function in of_type(sam, "AWS::Serverless::Function").values():
        assert "SNAPSHOT_BASE_URL" not in function["Properties"]["Environment"]["Variables"]


# --- Production configuration ----------------------------------------------------------------


def test_functions_get_cognito_settings_and_secrets_from_parameters(sam: dict[str, Any]) -> None:
    variables = sam["Globals"]["Function"]["Environment"]["Variables"]
    issuer = "https://cognito-idp.${AWS::Region}.${AWS::URLSuffix}/${CognitoUserPoolId}"
    assert variables["AUTH_ISSUER"] == {"Fn::Sub": issuer}
    assert variables["AUTH_JWKS_URL"] == {"Fn::Sub": issuer + "/.well-known/jwks.json"}
    assert variables["AUTH_AUDIENCE"] == {"Ref": "CognitoAppClientId"}
    for name in ("CURSOR_SECRET", "PHONE_HASH_SECRET", "PAYMENT_WEBHOOK_SECRET", "STRIPE_API_KEY"):
        assert "{{resolve:secretsmanager:${AppSecretsName}:SecretString:" in json.dumps(variables[name])
    for name in (
        "CognitoUserPoolId",
        "CognitoAppClientId",
        "ApnsPlatformApplicationArn",
        "GcmPlatformApplicationArn",
    ):
        assert "Default" not in sam["Parameters"][name], f"{name} must be given at deploy time"
    # The stage config carries no secret or resource name that would shadow these.
    for function in of_type(sam, "AWS::Serverless::Function").values():
        own = function["Properties"]["Environment"]["Variables"]
        assert not set(own) & {"TABLE_NAME", "AUTH_ISSUER", "PAYMENT_WEBHOOK_SECRET", "CURSOR_SECRET"}


def test_the_rest_api_is_named_and_reports_per_route_metrics(sam: dict[str, Any]) -> None:
    api = sam["Resources"]["RestAPI"]["Properties"]
    assert resolve(api["Name"]) == "socialvideo-prod"
    assert api["MethodSettings"] == [{"ResourcePath": "/*", "HttpMethod": "*", "MetricsEnabled": True}]


# --- Alarms and dashboard ----------------------------------------------------------------------


def dimension(alarm: dict[str, Any], name: str) -> str:
    """The literal value of one dimension of a single-metric alarm."""
    return next(resolve(d["Value"]) for d in alarm["Properties"]["Dimensions"] if d["Name"] == name)


def test_alarms_watch_the_packaged_functions_and_notify_the_alarm_topic(sam: dict[str, Any]) -> None:
    resources = sam["Resources"]
    names = {
        k: resolve(f["Properties"]["FunctionName"])
        for k, f in of_type(sam, "AWS::Serverless::Function").items()
    }
    alarms = of_type(sam, "AWS::CloudWatch::Alarm")

    # Iterator age of every stream consumer (test_package.py checks one per consumer), errors
    # of the sweeper
    age = alarms["NotifyPublishOutboxIteratorAgeAlarm"]["Properties"]
    assert age["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": "NotifyPublishOutbox"}}]
    assert resolve(age["AlarmName"]) == names["NotifyPublishOutbox"] + "-iterator-age"
    assert age["MetricName"] == "IteratorAge"
    assert dimension(alarms["SweeperErrorsAlarm"], "FunctionName") == names["CheckoutExpireOrders"]
    assert alarms["SweeperErrorsAlarm"]["Properties"]["MetricName"] == "Errors"
    # Failed event publishes: the outbox publisher's EMF metric
    failed = alarms["FailedPublishAlarm"]["Properties"]
    assert (failed["Namespace"], failed["MetricName"]) == ("SocialVideo", "events_publish_failed")
    # API 5xx rate, p99 (whole API and main routes) on the API the package names
    api_name = resolve(resources["RestAPI"]["Properties"]["Name"])
    assert dimension(alarms["ApiLatencyP99Alarm"], "ApiName") == api_name
    assert alarms["ApiLatencyP99Alarm"]["Properties"]["ExtendedStatistic"] == "p99"
    routes = {
        (dimension(a, "Method"), dimension(a, "Resource"))
        for a in alarms.values()
        if any(d["Name"] == "Resource" for d in a["Properties"].get("Dimensions", []))
    }
    from app import app

    for method, path in routes:
        assert method in app.routes[path], (method, path)
    assert ("POST", "/v1/streams/{stream_id}/chat") in routes
    rate = alarms["ApiErrorRateAlarm"]["Properties"]["Metrics"]
    assert {m["MetricStat"]["Metric"]["MetricName"] for m in rate if "MetricStat" in m} == {
        "5XXError",
        "Count",
    }
    # DynamoDB throttles of the table and its GSIs
    throttles = alarms["DynamoThrottleAlarm"]["Properties"]["Metrics"]
    assert {m["MetricStat"]["Metric"]["MetricName"] for m in throttles if "MetricStat" in m} == {
        "ReadThrottleEvents",
        "WriteThrottleEvents",
    }
    # Every alarm is AWS-only and notifies the alarm topic, which the stack outputs
    for alarm in alarms.values():
        assert alarm["Condition"] == "IsDeployed"
        assert alarm["Properties"]["AlarmActions"] == [{"Ref": "AlarmTopic"}]
    assert sam["Outputs"]["AlarmTopicArn"]["Value"] == {"Ref": "AlarmTopic"}


def test_the_dashboard_is_valid_json_and_shows_every_alarm(sam: dict[str, Any]) -> None:
    # Given the dashboard body with its substitutions filled in
    body = sam["Resources"]["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    filled = re.sub(r"\$\{(ApiLatencyP99Ms|IteratorAgeThresholdMs)\}", "1000", body)
    filled = re.sub(r"\$\{[^}]+\}", "x", filled)

    # When it is parsed
    dashboard = json.loads(filled)

    # Then it lists every alarm by name and has metric widgets
    alarm_widget = next(w for w in dashboard["widgets"] if w["type"] == "alarm")
    names = {resolve(a["Properties"]["AlarmName"]) for a in of_type(sam, "AWS::CloudWatch::Alarm").values()}
    listed = {
        arn.rsplit(":alarm:", 1)[1].replace("x-x-", "socialvideo-prod-")
        for arn in alarm_widget["properties"]["alarms"]
    }
    assert listed == names
    assert sum(w["type"] == "metric" for w in dashboard["widgets"]) >= 8


# --- The local stack -------------------------------------------------------------------------


def test_the_local_stack_deploys_the_same_template_without_aws_only_resources(aws: dict[str, str]) -> None:
    import boto3

    # Given the infra template deployed into moto for the local stage (the `aws` fixture)
    cloudformation = boto3.client("cloudformation", region_name="us-east-1")
    stack = cloudformation.describe_stacks(StackName="socialvideo-local")["Stacks"][0]

    # Then it is complete, has the key and table, and no alarm, dashboard or bucket policy
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    summaries = cloudformation.list_stack_resources(StackName="socialvideo-local")["StackResourceSummaries"]
    types = {r["ResourceType"] for r in summaries}
    assert not {r["LogicalResourceId"] for r in summaries} & {
        "AlarmTopic",
        "Dashboard",
        "MediaBucketPolicy",
        "SnapshotDistribution",
    }
    assert {"AWS::KMS::Key", "AWS::DynamoDB::Table", "AWS::S3::Bucket"} <= types
    assert not types & {"AWS::CloudWatch::Alarm", "AWS::CloudWatch::Dashboard", "AWS::S3::BucketPolicy"}
    assert not {t for t in types if t.startswith("AWS::CloudFront::")}
    assert aws["TABLE_NAME"] == "socialvideo"


def test_infra_template_is_the_one_merged(sam: dict[str, Any]) -> None:
    from infra.package import load_infra_template

    infra = load_infra_template()
    for logical_id in infra["Resources"]:
        assert logical_id in sam["Resources"]
    assert Path(prod_build() / "merge-template.json").exists()


def test_the_snapshot_cdn_enforces_tls_1_2_on_its_own_domain(sam: dict[str, Any]) -> None:
    # Given the distribution's viewer certificate
    config = sam["Resources"]["SnapshotDistribution"]["Properties"]["DistributionConfig"]
    condition, custom, default = config["ViewerCertificate"]["Fn::If"]

    # Then with a domain and an ACM certificate viewers need TLS 1.2+ (SNI), and the alias is set
    assert condition == "HasSnapshotDomain"
    assert custom == {
        "AcmCertificateArn": {"Ref": "SnapshotCertificateArn"},
        "SslSupportMethod": "sni-only",
        "MinimumProtocolVersion": "TLSv1.2_2021",
    }
    assert config["Aliases"]["Fn::If"][1] == [{"Ref": "SnapshotDomainName"}]
    # Without them it is the default certificate (CloudFront fixes TLSv1 there: the checkov skip)
    assert default == {"CloudFrontDefaultCertificate": True}
    assert sam["Parameters"]["SnapshotCertificateArn"]["Default"] == ""


def test_the_account_jobs_see_only_deletion_markers_and_exports(sam: dict[str, Any]) -> None:
    # Given the account jobs' stream event source (issue 20)
    events = of_type(sam, "AWS::Serverless::Function")["AccountJobs"]["Properties"]["Events"]
    (source,) = events.values()
    # Then Lambda filters the stream down to the two item types it acts on
    patterns = [json.loads(f["Pattern"]) for f in source["Properties"]["FilterCriteria"]["Filters"]]
    assert patterns == [{"dynamodb": {"NewImage": {"entity": {"S": ["account_deletion", "account_export"]}}}}]
