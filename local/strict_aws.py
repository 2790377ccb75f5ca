"""A stricter local AWS: the limits moto ignores, and fault injection (``local.moto_server``).

**Limits**, answered with AWS's own error codes and shapes (botocore parses them exactly as it
parses AWS's):

- SNS ``Publish``: message + attributes ≤ 256 KiB → 400 ``InvalidParameter``;
- SNS ``PublishBatch``: ≤ 10 entries → ``TooManyEntriesInBatchRequest``; all entries together
  ≤ 256 KiB → ``BatchRequestTooLong``;
- SQS ``SendMessage``/``SendMessageBatch``: each message ≤ 256 KiB → ``InvalidParameterValue``;
  a batch ≤ 256 KiB → ``BatchRequestTooLong``;
- DynamoDB ``TransactWriteItems``: ≤ 100 actions and ≤ 4 MB of items → ``ValidationException``.

Sizes follow AWS's accounting: a message's UTF-8 bytes plus each attribute's name, data type
and value; a DynamoDB item's attribute names plus values.

**Faults.** ``POST /_local/faults`` with ``{"service": "sns", "action": "Publish*", "error":
"InternalError", "duration_s": 20}`` (or ``"probability": 0.3``, optional ``"count"``) makes
matching requests fail with that error, in the service's shape, before moto sees them.
``GET /_local/faults`` lists the rules with their hit counts, ``DELETE /_local/faults`` removes
them all. :func:`add_fault` / :func:`clear_faults` are the client side (tests, bench).
Errors: ``InternalError`` (500), ``ServiceUnavailable`` (503), ``Throttling`` (400; S3: 503
``SlowDown``), ``ProvisionedThroughputExceededException`` (400).
"""

from __future__ import annotations

import base64
import fnmatch
import io
import json
import random
import threading
import time
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

MAX_MESSAGE_BYTES = 262_144  # SNS and SQS: one message, and one batch
MAX_BATCH_ENTRIES = 10
MAX_TRANSACTION_BYTES = 4 * 1024 * 1024
MAX_TRANSACTION_ACTIONS = 100
CONTROL_PATH = "/_local/faults"
FAULT_ERRORS = ("InternalError", "Throttling", "ProvisionedThroughputExceededException", "ServiceUnavailable")

_STATUS = {
    "InternalError": 500,
    "ServiceUnavailable": 503,
    "Throttling": 400,
    "ProvisionedThroughputExceededException": 400,
}
# The code each service really uses for a generic fault.
_SERVICE_CODES = {
    ("dynamodb", "InternalError"): "InternalServerError",
    ("dynamodb", "Throttling"): "ThrottlingException",
    ("sqs", "Throttling"): "RequestThrottled",
    ("s3", "Throttling"): "SlowDown",
}
_JSON_PREFIX = {"dynamodb": "com.amazonaws.dynamodb.v20120810#", "sqs": "com.amazonaws.sqs#"}


# --- sizes ------------------------------------------------------------------------------------


def message_size(body: str, attributes: Mapping[str, Mapping[str, str]]) -> int:
    """SNS/SQS accounting: body bytes + each attribute's name, data type and value bytes."""
    total = len(body.encode())
    for name, value in attributes.items():
        total += len(name.encode()) + len(str(value.get("DataType", "")).encode())
        if value.get("StringValue") is not None:
            total += len(str(value["StringValue"]).encode())
        if value.get("BinaryValue") is not None:
            total += len(base64.b64decode(str(value["BinaryValue"]) or ""))
    return total


def attribute_value_size(value: Mapping[str, Any]) -> int:
    """DynamoDB's size of one AttributeValue (approximate for numbers, as documented)."""
    ((kind, inner),) = value.items()
    if kind == "S":
        return len(str(inner).encode())
    if kind == "N":
        return (len(str(inner).lstrip("-").replace(".", "")) + 1) // 2 + 1
    if kind == "B":
        return len(base64.b64decode(inner)) if isinstance(inner, str) else len(inner)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(str(v).encode()) for v in inner)
    if kind == "NS":
        return sum(attribute_value_size({"N": v}) for v in inner)
    if kind == "BS":
        return sum(attribute_value_size({"B": v}) for v in inner)
    if kind == "L":
        return 3 + sum(1 + attribute_value_size(v) for v in inner)
    if kind == "M":
        return 3 + sum(1 + len(k.encode()) + attribute_value_size(v) for k, v in inner.items())
    return 0


def item_size(item: Mapping[str, Any]) -> int:
    """DynamoDB's size of an item (or key): attribute names plus values."""
    return sum(len(name.encode()) + attribute_value_size(value) for name, value in item.items())


def transaction_size(actions: Iterable[Mapping[str, Any]]) -> int:
    """The bytes a TransactWriteItems request writes or checks."""
    total = 0
    for action in actions:
        for kind, spec in action.items():
            if kind == "Put":
                total += item_size(spec.get("Item", {}))
            else:
                total += item_size(spec.get("Key", {}))
                total += item_size(spec.get("ExpressionAttributeValues", {}))
    return total


# --- request parsing --------------------------------------------------------------------------


@dataclass(frozen=True)
class AwsRequest:
    """Which service and action a request is, and its body."""

    service: str
    action: str
    body: bytes

    def form(self) -> dict[str, str]:
        """A query-protocol (SNS) body as a flat dict."""
        return dict(urllib.parse.parse_qsl(self.body.decode(errors="replace"), keep_blank_values=True))

    def json(self) -> dict[str, Any]:
        """A JSON-protocol (DynamoDB, SQS) body."""
        try:
            data = json.loads(self.body or b"{}")
        except ValueError:
            return {}
        return data if isinstance(data, dict) else {}


def _service(environ: Mapping[str, Any]) -> str:
    auth = str(environ.get("HTTP_AUTHORIZATION", ""))
    credential = ""
    if "Credential=" in auth:
        credential = auth.split("Credential=", 1)[1].split(",", 1)[0]
    else:
        query = urllib.parse.parse_qs(str(environ.get("QUERY_STRING", "")))
        credential = (query.get("X-Amz-Credential") or [""])[0]
    parts = credential.split("/")
    return parts[3] if len(parts) >= 5 else ""


def _s3_action(environ: Mapping[str, Any]) -> str:
    method = str(environ.get("REQUEST_METHOD", "GET"))
    has_key = len([p for p in str(environ.get("PATH_INFO", "")).split("/") if p]) >= 2
    if method == "PUT":
        return "PutObject" if has_key else "CreateBucket"
    if method == "GET":
        return "GetObject" if has_key else "ListObjects"
    if method == "HEAD":
        return "HeadObject" if has_key else "HeadBucket"
    if method == "DELETE":
        return "DeleteObject" if has_key else "DeleteBucket"
    return "PostObject"


def parse_request(environ: dict[str, Any]) -> AwsRequest:
    """Identify the request; the body is read (and put back) only for SNS, SQS and DynamoDB."""
    service = _service(environ)
    if service == "s3":
        return AwsRequest(service, _s3_action(environ), b"")
    body = b""
    if service in ("sns", "sqs", "dynamodb"):
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
    target = str(environ.get("HTTP_X_AMZ_TARGET", ""))
    if target:
        action = target.rsplit(".", 1)[-1]
    elif body and service == "sns":
        action = dict(urllib.parse.parse_qsl(body.decode(errors="replace"))).get("Action", "")
    else:
        action = str(urllib.parse.parse_qs(str(environ.get("QUERY_STRING", ""))).get("Action", [""])[0])
    return AwsRequest(service, action, body)


# --- limits -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class AwsError:
    """An error answer in the service's own shape."""

    service: str
    code: str
    message: str
    status: int = 400
    sender: bool = True


def _form_attributes(form: Mapping[str, str], prefix: str) -> dict[str, dict[str, str]]:
    attributes: dict[str, dict[str, str]] = {}
    n = 1
    while f"{prefix}MessageAttributes.entry.{n}.Name" in form:
        base = f"{prefix}MessageAttributes.entry.{n}"
        value = {"DataType": form.get(f"{base}.Value.DataType", "")}
        if f"{base}.Value.StringValue" in form:
            value["StringValue"] = form[f"{base}.Value.StringValue"]
        if f"{base}.Value.BinaryValue" in form:
            value["BinaryValue"] = form[f"{base}.Value.BinaryValue"]
        attributes[form[f"{base}.Name"]] = value
        n += 1
    return attributes


def _sns_limits(request: AwsRequest) -> AwsError | None:
    form = request.form()
    if request.action == "Publish":
        size = message_size(form.get("Message", ""), _form_attributes(form, "")) + len(
            form.get("Subject", "").encode()
        )
        if size > MAX_MESSAGE_BYTES:
            return AwsError("sns", "InvalidParameter", "Invalid parameter: Message too long")
    elif request.action == "PublishBatch":
        entries = []
        n = 1
        while f"PublishBatchRequestEntries.member.{n}.Id" in form:
            prefix = f"PublishBatchRequestEntries.member.{n}."
            entries.append(
                message_size(form.get(prefix + "Message", ""), _form_attributes(form, prefix))
                + len(form.get(prefix + "Subject", "").encode())
            )
            n += 1
        if len(entries) > MAX_BATCH_ENTRIES:
            return AwsError(
                "sns",
                "TooManyEntriesInBatchRequest",
                f"The batch request contains more entries than permissible ({len(entries)} > 10).",
            )
        if sum(entries) > MAX_MESSAGE_BYTES:
            return AwsError(
                "sns",
                "BatchRequestTooLong",
                f"The length of all the messages put together is more than the limit "
                f"({sum(entries)} > {MAX_MESSAGE_BYTES} bytes).",
            )
    return None


def _sqs_limits(request: AwsRequest) -> AwsError | None:
    data = request.json()
    if request.action == "SendMessage":
        entries = [data]
    elif request.action == "SendMessageBatch":
        entries = list(data.get("Entries") or [])
    else:
        return None
    sizes = [message_size(str(e.get("MessageBody", "")), e.get("MessageAttributes") or {}) for e in entries]
    if any(size > MAX_MESSAGE_BYTES for size in sizes):
        return AwsError(
            "sqs",
            "InvalidParameterValue",
            "One or more parameters are invalid. Reason: Message must be shorter than "
            f"{MAX_MESSAGE_BYTES} bytes.",
        )
    if request.action == "SendMessageBatch" and sum(sizes) > MAX_MESSAGE_BYTES:
        return AwsError(
            "sqs",
            "BatchRequestTooLong",
            f"Batch requests cannot be longer than {MAX_MESSAGE_BYTES} bytes. "
            f"You have sent {sum(sizes)} bytes.",
        )
    return None


def _dynamodb_limits(request: AwsRequest) -> AwsError | None:
    if request.action != "TransactWriteItems":
        return None
    actions = list(request.json().get("TransactItems") or [])
    if len(actions) > MAX_TRANSACTION_ACTIONS:
        return AwsError(
            "dynamodb",
            "ValidationException",
            "1 validation error detected: Value at 'transactItems' failed to satisfy constraint: "
            "Member must have length less than or equal to 100",
        )
    if transaction_size(actions) > MAX_TRANSACTION_BYTES:
        return AwsError("dynamodb", "ValidationException", "Transaction request cannot be larger than 4 MB")
    return None


def check_limits(request: AwsRequest) -> AwsError | None:
    """The limit this request breaks, if any."""
    checks = {"sns": _sns_limits, "sqs": _sqs_limits, "dynamodb": _dynamodb_limits}
    check = checks.get(request.service)
    return check(request) if check else None


# --- faults -----------------------------------------------------------------------------------


@dataclass
class FaultRule:
    """Requests to ``service`` whose action matches ``action`` fail with ``error``: each with
    ``probability``, until ``expires_at`` (monotonic; None: until removed), at most ``count``."""

    service: str
    error: str
    action: str = "*"
    probability: float = 1.0
    duration_s: float | None = None
    count: int | None = None
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    hits: int = 0
    expires_at: float | None = None

    def active(self, now: float) -> bool:
        """Still in force."""
        if self.expires_at is not None and now >= self.expires_at:
            return False
        return self.count is None or self.hits < self.count

    def public(self) -> dict[str, Any]:
        """The rule as the control endpoint shows it."""
        shown = asdict(self)
        shown.pop("expires_at")
        shown["remaining_s"] = (
            None if self.expires_at is None else max(0.0, round(self.expires_at - time.monotonic(), 3))
        )
        return shown


def parse_rule(data: Mapping[str, Any]) -> FaultRule:
    """Validate a rule posted to the control endpoint (``ValueError`` when invalid)."""
    service = str(data.get("service", "")).lower()
    error = str(data.get("error", ""))
    if not service:
        raise ValueError("service is required (sns, sqs, dynamodb, s3, ...)")
    if error not in FAULT_ERRORS:
        raise ValueError(f"error must be one of {', '.join(FAULT_ERRORS)}")
    probability = float(data.get("probability", 1.0))
    if not 0.0 < probability <= 1.0:
        raise ValueError("probability must be in (0, 1]")
    duration = data.get("duration_s")
    count = data.get("count")
    rule = FaultRule(
        service=service,
        error=error,
        action=str(data.get("action") or "*"),
        probability=probability,
        duration_s=float(duration) if duration is not None else None,
        count=int(count) if count is not None else None,
    )
    if rule.duration_s is not None:
        rule.expires_at = time.monotonic() + rule.duration_s
    return rule


class FaultRules:
    """The active rules (thread-safe)."""

    def __init__(self, seed: int | None = None) -> None:
        self._rules: list[FaultRule] = []
        self._lock = threading.Lock()
        self._random = random.Random(seed)

    def add(self, rule: FaultRule) -> FaultRule:
        """Add a rule."""
        with self._lock:
            self._rules.append(rule)
        return rule

    def clear(self) -> None:
        """Remove every rule."""
        with self._lock:
            self._rules.clear()

    def listing(self) -> list[dict[str, Any]]:
        """Every rule (expired ones too, with their hits)."""
        with self._lock:
            return [r.public() for r in self._rules]

    def match(self, request: AwsRequest) -> AwsError | None:
        """The injected error for ``request``, if a rule fires."""
        now = time.monotonic()
        with self._lock:
            for rule in self._rules:
                if rule.service != request.service or not rule.active(now):
                    continue
                if not fnmatch.fnmatchcase(request.action, rule.action):
                    continue
                if self._random.random() >= rule.probability:
                    continue
                rule.hits += 1
                code = _SERVICE_CODES.get((request.service, rule.error), rule.error)
                status = 503 if code == "SlowDown" else _STATUS[rule.error]
                return AwsError(
                    request.service, code, f"Injected fault ({rule.id})", status, sender=status < 500
                )
        return None


# --- rendering --------------------------------------------------------------------------------


def render_error(error: AwsError) -> tuple[str, list[tuple[str, str]], bytes]:
    """(status line, headers, body) of ``error`` in its service's protocol."""
    request_id = str(uuid.uuid4())
    status = f"{error.status} {'Bad Request' if error.status == 400 else 'Error'}"
    headers = [("x-amzn-RequestId", request_id)]
    if error.service in _JSON_PREFIX:
        prefix = (
            "com.amazon.coral.validate#"
            if error.code == "ValidationException"
            else _JSON_PREFIX[error.service]
        )
        body = json.dumps({"__type": prefix + error.code, "message": error.message}).encode()
        headers.append(("Content-Type", "application/x-amz-json-1.0"))
        if error.service == "sqs":
            # SQS's JSON protocol is query-compatible: botocore takes the code from this header.
            headers.append(("x-amzn-query-error", f"{error.code};{'Sender' if error.sender else 'Receiver'}"))
        return status, headers, body
    if error.service == "s3":
        xml = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Error><Code>{error.code}</Code><Message>{error.message}</Message>"
            f"<RequestId>{request_id}</RequestId></Error>"
        )
    else:
        kind = "Sender" if error.sender else "Receiver"
        xml = (
            f'<ErrorResponse xmlns="http://{error.service}.amazonaws.com/doc/2010-03-31/">'
            f"<Error><Type>{kind}</Type><Code>{error.code}</Code><Message>{error.message}</Message></Error>"
            f"<RequestId>{request_id}</RequestId></ErrorResponse>"
        )
    headers.append(("Content-Type", "text/xml"))
    return status, headers, xml.encode()


class StrictAwsApp:
    """WSGI middleware in front of moto: the control endpoint, injected faults, AWS's limits."""

    def __init__(self, app: WSGIApp, rules: FaultRules | None = None) -> None:
        self._app = app
        self.rules = rules or FaultRules()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        """Answer control requests, refuse faulty or over-limit requests, pass the rest on."""
        path = str(environ.get("PATH_INFO", ""))
        if path.rstrip("/") == CONTROL_PATH:
            return self._control(environ, start_response)
        request = parse_request(environ)
        error = self.rules.match(request) or check_limits(request)
        if error is not None:
            status, headers, body = render_error(error)
            headers.append(("Content-Length", str(len(body))))
            start_response(status, headers)
            return [body]
        return self._app(environ, start_response)

    def _control(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        status, payload = "200 OK", {}
        if method == "POST":
            length = int(environ.get("CONTENT_LENGTH") or 0)
            try:
                rule = self.rules.add(parse_rule(json.loads(environ["wsgi.input"].read(length) or b"{}")))
                status, payload = "201 Created", rule.public()
            except (ValueError, TypeError) as err:
                status, payload = "400 Bad Request", {"code": "invalid_rule", "message": str(err)}
        elif method == "DELETE":
            self.rules.clear()
            payload = {"rules": []}
        else:
            payload = {"rules": self.rules.listing()}
        body = json.dumps(payload).encode()
        start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]


# --- client -----------------------------------------------------------------------------------


def _control_request(moto_url: str, method: str, payload: Any = None) -> Any:
    data = json.dumps(payload).encode() if payload is not None else None
    request = urllib.request.Request(moto_url.rstrip("/") + CONTROL_PATH, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read() or b"{}")


def add_fault(
    moto_url: str,
    service: str,
    error: str,
    action: str = "*",
    *,
    duration_s: float | None = None,
    probability: float = 1.0,
    count: int | None = None,
) -> dict[str, Any]:
    """Add a fault rule to the local moto server at ``moto_url``; returns the rule."""
    rule = {"service": service, "error": error, "action": action, "probability": probability}
    if duration_s is not None:
        rule["duration_s"] = duration_s
    if count is not None:
        rule["count"] = count
    result: dict[str, Any] = _control_request(moto_url, "POST", rule)
    return result


def list_faults(moto_url: str) -> list[dict[str, Any]]:
    """The rules of the server at ``moto_url`` with their hit counts."""
    rules: list[dict[str, Any]] = _control_request(moto_url, "GET")["rules"]
    return rules


def clear_faults(moto_url: str) -> None:
    """Remove every fault rule."""
    _control_request(moto_url, "DELETE")
