"""Phone verification over HTTP on the local stack: the SMS lands in moto, ``make sms`` (the
``local.sms`` module) reads the code, and the code verifies the number."""

from __future__ import annotations

import uuid

import pytest

from local.sms import main as sms_main
from local.sms import sent_sms
from tests.support.local_stack import LocalStack

pytestmark = pytest.mark.e2e


def test_the_code_texted_on_the_local_stack_verifies_the_number(
    local_stack: LocalStack, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a fresh number and user
    run = uuid.uuid4().int % 10_000
    number, user = f"+1415555{run:04d}", f"e2e-sms-{uuid.uuid4().hex[:8]}"
    # When the user asks for a code
    status, body, _ = local_stack.request("PUT", "/v1/me/phone", {"phone": number}, user=user)
    assert status == 202, body
    # Then moto holds the SMS, and `make sms` prints its code
    [text] = [t for t in sent_sms(local_stack.moto_url) if t["phone_number"] == number][-1:]
    assert len(text["code"]) == 6
    assert sms_main(["--endpoint", local_stack.moto_url, "--number", number]) == 0
    assert f"{number}\t{text['code']}\t" in capsys.readouterr().out
    # And the code verifies the number, which then matches in a phone book
    verify = {"verification_id": body["verification_id"], "code": text["code"]}
    status, _, _ = local_stack.request("POST", "/v1/me/phone/verify", verify, user=user)
    assert status == 204
    status, found, _ = local_stack.request(
        "POST", "/v1/me/contacts/match", {"phones": [number]}, user="e2e-x"
    )
    assert status == 200 and found["items"] == [{"phone": number, "user_id": user}]
