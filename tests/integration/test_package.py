"""``make package`` produces a deployable artifact: cfn-lint clean, coherent with the infra
template, and a zip that contains ``chalicelib/`` and imports with only its own dependencies.

Runs the real ``chalice package`` once per test session (downloads Linux wheels from PyPI the
first time, ~10-60 s); ``tests/integration/test_prod_template.py`` reuses the same build.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

import pytest
from chalice.utils import to_cfn_resource_name

from infra.package import STREAM_ARN, package

ROOT = Path(__file__).resolve().parent.parent.parent


def prod_build() -> Path:
    """``build/`` of a prod package, built ONCE per test session and shared by every module
    (and by pytest-xdist workers of the same run, through a directory keyed by the run id)."""
    return _prod_build(os.environ.get("PYTEST_XDIST_TESTRUNUID") or f"pid{os.getpid()}")


@functools.cache
def _prod_build(run_id: str) -> Path:
    import fcntl

    base = Path(tempfile.gettempdir())
    for stale in base.glob("socialvideo-package-*"):
        if stale.is_dir() and time.time() - stale.stat().st_mtime > 3600:
            shutil.rmtree(stale, ignore_errors=True)
    root = base / f"socialvideo-package-{run_id}"
    root.mkdir(exist_ok=True)
    out = root / "build"
    with open(root / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (root / ".done").exists():
            package("prod", out)
            (root / ".done").touch()
    return out


@pytest.fixture(scope="module")
def artifact() -> Path:
    """``build/`` of the session's prod package."""
    return prod_build()


@pytest.fixture(scope="module")
def sam(artifact: Path) -> dict[str, Any]:
    """The generated SAM template."""
    template: dict[str, Any] = json.loads((artifact / "sam.json").read_text())
    return template


def test_template_passes_cfn_lint(artifact: Path) -> None:
    # Given the packaged template / When cfn-lint reads it / Then it reports nothing
    result = subprocess.run(
        [str(Path(sys.executable).with_name("cfn-lint")), str(artifact / "sam.json")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_template_holds_the_infra_resources(sam: dict[str, Any]) -> None:
    resources = sam["Resources"]
    assert resources["Table"]["Type"] == "AWS::DynamoDB::Table"
    assert resources["Table"]["Properties"]["StreamSpecification"] == {"StreamViewType": "NEW_AND_OLD_IMAGES"}
    assert resources["MediaBucket"]["Type"] == "AWS::S3::Bucket"
    assert {resources[t]["Type"] for t in ("EventsTopic", "VideoEventsTopic")} == {"AWS::SNS::Topic"}
    # The tap queue is a local-stage convenience only.
    assert sam["Parameters"]["Stage"]["Default"] == "prod"
    assert resources["EventsTapQueue"]["Condition"] == "IsLocal"


def _functions(sam: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in sam["Resources"].items() if v["Type"] == "AWS::Serverless::Function"}


def _events(function: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [e["Properties"] for e in function["Properties"].get("Events", {}).values() if e["Type"] == kind]


def _own_queue(function_id: str) -> dict[str, Any]:
    return {"Fn::GetAtt": [f"{function_id}DeadLetterQueue", "Arn"]}


def _event_sources(*kinds: str) -> list[str]:
    from app import app

    return [c.name for c in app.event_sources if type(c).__name__ in kinds]


ASYNC_SOURCES = ("SNSEventConfig", "ScheduledEventConfig")


def test_every_stream_consumer_reads_the_tables_stream_from_the_start(sam: dict[str, Any]) -> None:
    consumers = _event_sources("DynamoDBEventConfig")
    assert consumers, "the app declares no stream consumer"
    ddb_events = [p for f in _functions(sam).values() for p in _events(f, "DynamoDB")]
    assert len(ddb_events) == len(consumers)
    for properties in ddb_events:
        assert properties["Stream"] == STREAM_ARN
        assert properties["StartingPosition"] == "TRIM_HORIZON"


def test_every_stream_mapping_has_the_delivery_rules_and_its_own_dead_letter_queue(
    sam: dict[str, Any],
) -> None:
    from infra.package import DELIVERY

    # Given the rules of infra/delivery.json (the local pump applies the same file)
    rules = json.loads(DELIVERY.read_text())["dynamodb_stream"]
    assert 0 < rules["MaximumRetryAttempts"] <= 10
    functions = _functions(sam)
    resources = sam["Resources"]

    for name in _event_sources("DynamoDBEventConfig"):
        function_id = to_cfn_resource_name(name)
        [mapping] = _events(functions[function_id], "DynamoDB")
        # Then retries are bounded, a failing batch is bisected down to the poison record, old
        # records are given up on, and what is given up lands in the function's own queue
        assert mapping["MaximumRetryAttempts"] == rules["MaximumRetryAttempts"]
        assert mapping["BisectBatchOnFunctionError"] is True
        assert mapping["MaximumRecordAgeInSeconds"] == rules["MaximumRecordAgeInSeconds"]
        assert mapping["BatchSize"] == rules["BatchSize"]
        assert mapping["DestinationConfig"] == {"OnFailure": {"Destination": _own_queue(function_id)}}
        queue = resources[f"{function_id}DeadLetterQueue"]
        assert queue["Type"] == "AWS::SQS::Queue"
        assert queue["Properties"]["KmsMasterKeyId"] == {"Fn::GetAtt": ["DataKey", "Arn"]}

    # And only the handler that reports partial failures (the outbox) asks for item reports;
    # the projectors raise, so Lambda bisects
    reporting = {
        k for k, f in functions.items() for m in _events(f, "DynamoDB") if "FunctionResponseTypes" in m
    }
    assert reporting == {"NotifyPublishOutbox"}
    [outbox] = _events(functions["NotifyPublishOutbox"], "DynamoDB")
    assert outbox["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


def test_every_async_function_has_bounded_retries_and_an_sqs_on_failure_destination(
    sam: dict[str, Any],
) -> None:
    from infra.package import DELIVERY

    rules = json.loads(DELIVERY.read_text())
    configs = {
        v["Properties"]["FunctionName"]["Ref"]: v["Properties"]
        for v in sam["Resources"].values()
        if v["Type"] == "AWS::Lambda::EventInvokeConfig"
    }
    # Given the SNS subscribers and the schedules (Lambda invokes both asynchronously)
    for kind, section in (("SNSEventConfig", "sns_async"), ("ScheduledEventConfig", "scheduled_async")):
        names = _event_sources(kind)
        assert names, kind
        for name in names:
            function_id = to_cfn_resource_name(name)
            # Then each has an invoke config on $LATEST with the file's bounded retries and age,
            # and failures go to its own queue
            config = configs[function_id]
            assert config["Qualifier"] == "$LATEST"
            assert config["MaximumRetryAttempts"] == rules[section]["MaximumRetryAttempts"] <= 2
            assert config["MaximumEventAgeInSeconds"] == rules[section]["MaximumEventAgeInSeconds"]
            assert config["DestinationConfig"] == {"OnFailure": {"Destination": _own_queue(function_id)}}
    assert set(configs) == {
        to_cfn_resource_name(n)
        for n in _event_sources("SNSEventConfig") + _event_sources("ScheduledEventConfig")
    }


def test_every_dead_letter_queue_and_stream_consumer_has_an_alarm(sam: dict[str, Any]) -> None:
    resources = sam["Resources"]
    alarms = {k: v["Properties"] for k, v in resources.items() if v["Type"] == "AWS::CloudWatch::Alarm"}
    queues = [
        k for k, v in resources.items() if k.endswith("DeadLetterQueue") and v["Type"] == "AWS::SQS::Queue"
    ]
    assert len(queues) == len(
        _event_sources("DynamoDBEventConfig")
        + _event_sources("SNSEventConfig")
        + _event_sources("ScheduledEventConfig")
    )
    # Then each queue's depth alarms as soon as one message is parked
    for queue in queues:
        function_id = queue.removesuffix("DeadLetterQueue")
        alarm = alarms[f"{function_id}DeadLetterAlarm"]
        stats = [m["MetricStat"]["Metric"] for m in alarm["Metrics"] if "MetricStat" in m]
        # (visible + in flight: reading the queue does not clear the alarm)
        assert {(m["Namespace"], m["MetricName"]) for m in stats} == {
            ("AWS/SQS", "ApproximateNumberOfMessagesVisible"),
            ("AWS/SQS", "ApproximateNumberOfMessagesNotVisible"),
        }
        dimension = {"Name": "QueueName", "Value": {"Fn::GetAtt": [queue, "QueueName"]}}
        assert all(metric["Dimensions"] == [dimension] for metric in stats)
        [total] = [m for m in alarm["Metrics"] if m.get("ReturnData")]
        assert total["Expression"] == "visible + inflight"
        assert (alarm["ComparisonOperator"], alarm["Threshold"]) == ("GreaterThanThreshold", 0)
        assert alarm["AlarmActions"] == [{"Ref": "AlarmTopic"}]
    # And each stream consumer's lag alarms past the stack's threshold
    for name in _event_sources("DynamoDBEventConfig"):
        function_id = to_cfn_resource_name(name)
        alarm = alarms[f"{function_id}IteratorAgeAlarm"]
        assert (alarm["Namespace"], alarm["MetricName"]) == ("AWS/Lambda", "IteratorAge")
        assert alarm["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": function_id}}]
        assert alarm["Threshold"] == {"Ref": "IteratorAgeThresholdMs"}


def test_each_function_may_send_only_to_its_own_dead_letter_queue(sam: dict[str, Any]) -> None:
    resources = sam["Resources"]
    for function_id, function in _functions(sam).items():
        role = resources[function["Properties"]["Role"]["Fn::GetAtt"][0]]
        statements = role["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
        sqs = [
            (s["Action"], s["Resource"])
            for s in statements
            if any(str(a).startswith("sqs:") for a in s["Action"])
        ]
        if f"{function_id}DeadLetterQueue" in resources:
            assert sqs == [(["sqs:SendMessage"], _own_queue(function_id))], function_id
        else:
            assert sqs == [], function_id


def test_the_outbox_publisher_parks_refused_events_in_its_own_queue(sam: dict[str, Any]) -> None:
    # The publisher sends an event SNS refused for good (SenderFault) to PARKED_EVENTS_QUEUE_URL
    function = _functions(sam)["NotifyPublishOutbox"]
    variables = function["Properties"]["Environment"]["Variables"]
    assert variables["PARKED_EVENTS_QUEUE_URL"] == {"Ref": "NotifyPublishOutboxDeadLetterQueue"}


def test_each_read_model_has_its_own_stream_function(sam: dict[str, Any]) -> None:
    # Given the projector functions (a failure in one must not hold back another)
    functions = _functions(sam)
    projectors = {k: f for k, f in functions.items() if k.startswith("Project")}

    # Then inbox, live snapshots and share interactions each run alone, on their own mapping
    assert {k: f["Properties"]["Handler"] for k, f in projectors.items()} == {
        "ProjectInbox": "chalicelib.projections.events.project_inbox",
        "ProjectLiveSnapshots": "chalicelib.projections.events.project_live_snapshots",
        "ProjectShareInteractions": "chalicelib.projections.events.project_share_interactions",
    }
    mappings = [json.dumps(_events(f, "DynamoDB")) for f in projectors.values()]
    assert len(set(mappings)) == len(projectors)


def test_sns_topics_are_encrypted_with_the_data_key(sam: dict[str, Any]) -> None:
    resources = sam["Resources"]
    topics = {k: v for k, v in resources.items() if v["Type"] == "AWS::SNS::Topic"}
    assert {"EventsTopic", "VideoEventsTopic", "AlarmTopic"} <= set(topics)
    for topic in topics.values():
        assert topic["Properties"]["KmsMasterKeyId"] == {"Ref": "DataKey"}
    # And the key lets SNS (to encrypted queues) and CloudWatch (alarm notifications) use it;
    # publishing roles have kms:GenerateDataKey/Decrypt on it by IAM
    statements = resources["DataKey"]["Properties"]["KeyPolicy"]["Statement"]
    by_sid = {s["Sid"]: s for s in statements if isinstance(s, dict) and "Sid" in s}
    for sid, service in (
        ("SnsUsesKeyForEncryptedSubscribers", "sns.amazonaws.com"),
        ("CloudWatchAlarmsPublishToEncryptedTopic", "cloudwatch.amazonaws.com"),
    ):
        assert by_sid[sid]["Principal"] == {"Service": service}
        assert set(by_sid[sid]["Action"]) == {"kms:Decrypt", "kms:GenerateDataKey*"}
        # only on behalf of this account
        assert by_sid[sid]["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
    role = resources["NotifyPublishOutboxRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    key = next(s for s in role if s.get("Sid") == "DataKey")
    assert {"kms:GenerateDataKey", "kms:Decrypt"} <= set(key["Action"])


def test_log_groups_are_encrypted_and_apis_log_access_and_trace(sam: dict[str, Any]) -> None:
    resources = sam["Resources"]
    groups = {k: v for k, v in resources.items() if v["Type"] == "AWS::Logs::LogGroup"}
    assert groups
    for group in groups.values():
        assert group["Properties"]["KmsKeyId"] == {"Fn::GetAtt": ["DataKey", "Arn"]}
    rest = resources["RestAPI"]["Properties"]
    assert rest["TracingEnabled"] is True
    assert rest["AccessLogSetting"]["DestinationArn"] == {"Fn::GetAtt": ["ApiAccessLogGroup", "Arn"]}
    assert "$context.requestId" in rest["AccessLogSetting"]["Format"]
    websocket = resources["WebsocketAPIStage"]["Properties"]["AccessLogSettings"]
    assert websocket["DestinationArn"] == {"Fn::GetAtt": ["WebsocketAccessLogGroup", "Arn"]}


def test_every_checkov_skip_names_a_check_and_gives_its_reason(sam: dict[str, Any]) -> None:
    # `make package` runs checkov over this template (in .venv-checkov); what it does not fix
    # is skipped inline, and each skip must say why
    skips = [
        (logical_id, skip)
        for logical_id, resource in sam["Resources"].items()
        for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", [])
    ]
    assert skips
    for logical_id, skip in skips:
        assert skip["id"].startswith("CKV_AWS_"), logical_id
        assert len(skip["comment"]) >= 40, (logical_id, skip)
    allowed = {
        "CKV_AWS_117",
        "CKV_AWS_115",
        "CKV_AWS_116",
        "CKV_AWS_120",
        "CKV_AWS_174",
        "CKV_AWS_68",
        "CKV_AWS_18",
        "CKV_AWS_111",
    }
    assert {skip["id"] for _, skip in skips} <= allowed
    # Only the API's role may publish to '*' (SMS to a phone number has no ARN)
    assert [k for k, s in skips if s["id"] == "CKV_AWS_111"] == ["APIHandlerRole"]
    # The access-log bucket is the only bucket exempt from access logging
    assert [k for k, s in skips if s["id"] == "CKV_AWS_18"] == ["AccessLogsBucket"]


def test_sns_subscriptions_name_topics_the_template_creates(sam: dict[str, Any]) -> None:
    resources = sam["Resources"]
    topic_names = {
        resources[t]["Properties"]["TopicName"]["Fn::Sub"].replace("${Prefix}", "socialvideo")
        for t in ("EventsTopic", "VideoEventsTopic")
    }
    subscribed = [
        event["Properties"]["Topic"]["Fn::Sub"].rsplit(":", 1)[-1]
        for resource in resources.values()
        if resource["Type"] == "AWS::Serverless::Function"
        for event in resource["Properties"].get("Events", {}).values()
        if event["Type"] == "SNS"
    ]
    assert set(subscribed) <= topic_names


def test_zip_contains_chalicelib_and_imports_with_its_own_pinned_dependencies(
    artifact: Path, tmp_path: Path
) -> None:
    # Given the deployment zip unpacked like Lambda does
    with zipfile.ZipFile(artifact / "deployment.zip") as archive:
        names = archive.namelist()
        archive.extractall(tmp_path)
    assert "app.py" in names
    assert "chalicelib/__init__.py" in names
    assert "chalicelib/core/web.py" in names

    # When `app` is imported by an interpreter that sees only the stdlib and the zip
    # (-I: no user/env paths, -S: no site-packages), like a clean venv holding only the zip
    probe = (
        "import sys; sys.path.insert(0, sys.argv[1]); import app, chalicelib, boto3, botocore; "
        "print(app.app.app_name, chalicelib.__file__, len(app.app.handler_map), boto3.__file__, "
        "boto3.__version__, botocore.__version__)"
    )
    result = subprocess.run(
        [sys.executable, "-I", "-S", "-c", probe, str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
    )

    # Then it imports, from the zip's chalicelib/, with the boto3/botocore the tests ran (not the
    # Lambda runtime's)
    assert result.returncode == 0, result.stderr
    name, package_file, handlers, boto3_file, boto3_version, botocore_version = result.stdout.split()
    assert name == "socialvideo"
    assert package_file == str(tmp_path / "chalicelib" / "__init__.py")
    assert int(handlers) > 1
    assert boto3_file.startswith(str(tmp_path))
    import boto3
    import botocore

    assert (boto3_version, botocore_version) == (boto3.__version__, botocore.__version__)


def test_a_new_handler_gets_failure_handling_without_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    from chalice import Chalice

    from chalicelib.core.settings import EVENTS_TOPIC_NAME, TABLE_STREAM_ARN_PLACEHOLDER
    from infra import package as pkg

    # Given an app with a new stream consumer (reporting item failures) and a new SNS subscriber
    app = Chalice(app_name="probe")

    @app.on_dynamodb_record(stream_arn=TABLE_STREAM_ARN_PLACEHOLDER)
    def probe_stream(event: Any) -> dict[str, list[dict[str, str]]]:
        return {"batchItemFailures": []}

    @app.on_sns_message(topic=EVENTS_TOPIC_NAME)
    def probe_sns(event: Any) -> None:
        return None

    monkeypatch.setitem(pkg.FUNCTION_ACCESS, "probe_stream", ("stream", "table_read"))
    monkeypatch.setitem(pkg.FUNCTION_ACCESS, "probe_sns", ("table_read",))

    # When the merge template is built
    resources = pkg.build_merge_template(app, "prod")["Resources"]

    # Then both got a queue, a depth alarm and an on-failure destination; the stream consumer an
    # iterator-age alarm and item failure reports
    for function_id in ("ProbeStream", "ProbeSns"):
        assert resources[f"{function_id}DeadLetterQueue"]["Type"] == "AWS::SQS::Queue"
        assert resources[f"{function_id}DeadLetterAlarm"]["Condition"] == "IsDeployed"
    [mapping] = resources["ProbeStream"]["Properties"]["Events"].values()
    assert mapping["Properties"]["DestinationConfig"]["OnFailure"]["Destination"] == _own_queue("ProbeStream")
    assert mapping["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert "ProbeStreamIteratorAgeAlarm" in resources
    invoke = resources["ProbeSnsEventInvokeConfig"]["Properties"]
    assert invoke["DestinationConfig"]["OnFailure"]["Destination"] == _own_queue("ProbeSns")
    assert invoke["MaximumRetryAttempts"] == 2


def test_a_per_function_override_applies_to_its_own_section_only() -> None:
    from infra.package import source_rules

    # Given a delivery file overriding one function's retries (and a key of another section)
    delivery = {
        "dynamodb_stream": {"MaximumRetryAttempts": 5, "BatchSize": 100},
        "dead_letter_queue": {"MessageRetentionPeriod": 1209600, "local_name": "{function}-dlq"},
        "functions": {"slow_one": {"MaximumRetryAttempts": 2, "MessageRetentionPeriod": 60}},
    }

    # Then its mapping gets the override, without the queue's key; others keep the defaults
    slow = source_rules(delivery, "dynamodb_stream", "slow_one")
    assert slow == {"MaximumRetryAttempts": 2, "BatchSize": 100}
    assert source_rules(delivery, "dynamodb_stream", "other") == {"MaximumRetryAttempts": 5, "BatchSize": 100}
    assert source_rules(delivery, "dead_letter_queue", "slow_one") == {"MessageRetentionPeriod": 60}
