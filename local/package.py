"""``make package``: the deployable SAM/CloudFormation artifact in ``build/``.

1. Copy ``functions/`` into the git-ignored ``vendor/`` (Chalice packages only ``app.py``,
   ``chalicelib/`` and ``vendor/``; a requirements path or wheel would package stale code).
2. Build ``build/merge-template.json`` from ``infra/template.yaml`` (the same stateful
   resources ``make run`` deploys locally) plus overrides for what Chalice cannot express:
   every DynamoDB stream consumer reads ``Table.StreamArn`` from TRIM_HORIZON with partial
   batch failures, SNS subscriptions wait for their topic, functions get the resources' names
   and a policy on them.
3. ``chalice package --stage STAGE --merge-template build/merge-template.json build/``, failing
   when Chalice reports "Could not install dependencies" (it exits 0 in that case).
4. Check the result: every stream event source points at the table's stream.

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


def _data_policy() -> dict[str, Any]:
    """What the functions may do with the stack's resources (on top of Chalice's own policy)."""
    table = {"Fn::GetAtt": ["Table", "Arn"]}
    return {
        "Type": "AWS::IAM::Policy",
        "Properties": {
            "PolicyName": "socialvideo-data",
            "Roles": [{"Ref": "DefaultRole"}],
            "PolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Action": [
                            "dynamodb:GetItem",
                            "dynamodb:PutItem",
                            "dynamodb:UpdateItem",
                            "dynamodb:DeleteItem",
                            "dynamodb:Query",
                            "dynamodb:BatchGetItem",
                            "dynamodb:BatchWriteItem",
                            "dynamodb:ConditionCheckItem",
                        ],
                        "Resource": [table, {"Fn::Sub": "${Table.Arn}/index/*"}],
                    },
                    {
                        "Effect": "Allow",
                        "Action": [
                            "dynamodb:DescribeStream",
                            "dynamodb:GetRecords",
                            "dynamodb:GetShardIterator",
                            "dynamodb:ListStreams",
                        ],
                        "Resource": {"Fn::GetAtt": ["Table", "StreamArn"]},
                    },
                    {
                        "Effect": "Allow",
                        "Action": ["s3:GetObject", "s3:PutObject"],
                        "Resource": {"Fn::Sub": "${MediaBucket.Arn}/*"},
                    },
                    {
                        "Effect": "Allow",
                        "Action": ["sns:Publish"],
                        "Resource": [{"Ref": "EventsTopic"}, {"Ref": "VideoEventsTopic"}],
                    },
                    {
                        # Mobile push: endpoints are created per device under the platform apps.
                        "Effect": "Allow",
                        "Action": [
                            "sns:Publish",
                            "sns:CreatePlatformEndpoint",
                            "sns:DeleteEndpoint",
                            "sns:GetEndpointAttributes",
                            "sns:SetEndpointAttributes",
                        ],
                        "Resource": {
                            "Fn::Sub": "arn:${AWS::Partition}:sns:${AWS::Region}:${AWS::AccountId}:*"
                        },
                    },
                    {
                        "Effect": "Allow",
                        "Action": ["execute-api:ManageConnections"],
                        "Resource": {
                            "Fn::Sub": "arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:*"
                        },
                    },
                ],
            },
        },
    }


def build_merge_template(app: Any, stage: str, infra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The template ``chalice package --merge-template`` deep-merges into its own."""
    from chalice.app import DynamoDBEventConfig, SNSEventConfig
    from chalice.utils import to_cfn_resource_name

    merge = infra if infra is not None else load_infra_template()
    merge.setdefault("Parameters", {}).setdefault("Stage", {})["Default"] = stage
    resources = merge.setdefault("Resources", {})
    topics = topic_resources(merge)
    # Every function learns where the stateful resources are (SAM merges Globals into each).
    variables = {
        "TABLE_NAME": {"Ref": "Table"},
        "MEDIA_BUCKET": {"Ref": "MediaBucket"},
        "EVENTS_TOPIC_ARN": {"Ref": "EventsTopic"},
    }
    referenced = {v["Ref"] for v in variables.values()}
    merge["Globals"] = {"Function": {"Environment": {"Variables": variables}}}
    resources["SocialvideoDataPolicy"] = _data_policy()
    for config in app.event_sources:
        function_id = to_cfn_resource_name(config.name)
        if isinstance(config, DynamoDBEventConfig):
            event_id = to_cfn_resource_name(config.name + "-dynamodb-event-source")
            resources[function_id] = {
                "Properties": {
                    "Events": {
                        event_id: {
                            "Properties": {
                                "Stream": STREAM_ARN,
                                # An outbox must see every change since the table was created.
                                "StartingPosition": "TRIM_HORIZON",
                                "FunctionResponseTypes": ["ReportBatchItemFailures"],
                            }
                        }
                    }
                }
            }
        elif isinstance(config, SNSEventConfig):
            topic = config.topic.rsplit(":", 1)[-1]
            if topic not in topics:
                raise PackageError(f"{config.name} subscribes to {topic!r}, which infra/template.yaml lacks")
            # Chalice refers to the topic by name: make the subscription wait for its creation
            # (a Ref in the environment already does that; cfn-lint flags a redundant DependsOn).
            if topics[topic] not in referenced:
                resources[function_id] = {"DependsOn": [topics[topic]]}
    return merge


def check_artifact(sam: dict[str, Any], app: Any) -> None:
    """Every stream consumer reads the table's stream; every SNS topic is declared."""
    from chalice.app import DynamoDBEventConfig

    resources = sam["Resources"]
    for config in app.event_sources:
        if isinstance(config, DynamoDBEventConfig):
            function = resources[_cfn_name(config.name)]
            for event in function["Properties"]["Events"].values():
                if event["Properties"]["Stream"] != STREAM_ARN:
                    raise PackageError(f"{config.name} does not read Table.StreamArn")
    for name in ("Table", "MediaBucket", "EventsTopic", "VideoEventsTopic"):
        if name not in resources:
            raise PackageError(f"{name} is missing from the merged template")


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

    vendor_functions()
    out.mkdir(parents=True, exist_ok=True)
    merge_path = out / "merge-template.json"
    merge_path.write_text(json.dumps(build_merge_template(chalice_app.app, stage), indent=2))
    # chalice package refuses a non-empty output dir only for some formats; start clean.
    for name in ("sam.json", "deployment.zip"):
        (out / name).unlink(missing_ok=True)
    output = run_chalice_package(stage, merge_path, out)
    check_artifact(json.loads((out / "sam.json").read_text()), chalice_app.app)
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
