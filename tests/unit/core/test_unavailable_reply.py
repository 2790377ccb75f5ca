"""A 503 tells the client when to retry: ``Retry-After`` on every ``unavailable`` answer,
including AWS throttling or a 5xx that a dal did not translate."""

from __future__ import annotations

import json

from botocore.exceptions import ClientError

from chalicelib.core.errors import UnavailableError
from chalicelib.core.middleware import is_transient_aws_error as _is_transient_aws_error
from chalicelib.core.web import error_response


def test_an_unavailable_error_answers_503_with_retry_after() -> None:
    response = error_response(UnavailableError("The table is busy; retry."))
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "1"
    assert json.loads(response.body)["code"] == "unavailable"


def test_throttling_and_5xx_from_aws_are_transient_a_validation_error_is_not() -> None:
    def client_error(code: str, status: int) -> ClientError:
        return ClientError(
            {"Error": {"Code": code, "Message": ""}, "ResponseMetadata": {"HTTPStatusCode": status}}, "Op"
        )

    assert _is_transient_aws_error(client_error("ProvisionedThroughputExceededException", 400))
    assert _is_transient_aws_error(client_error("Throttling", 400))
    assert _is_transient_aws_error(client_error("InternalError", 500))
    assert not _is_transient_aws_error(client_error("ValidationException", 400))
