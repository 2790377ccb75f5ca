"""The local moto server keeps its log for what matters: failed requests, not every pump poll."""

from __future__ import annotations

import logging

from local.moto_server import QuietSuccessFilter


def _access_record(status: str) -> logging.LogRecord:
    # The shape of werkzeug's access-log record: (address, time, request line, status, size).
    return logging.LogRecord(
        "werkzeug",
        logging.INFO,
        __file__,
        1,
        '%s - - [%s] "%s" %s %s',
        ("127.0.0.1", "28/Nov/2026 04:00:00", "POST / HTTP/1.1", status, "-"),
        None,
    )


def test_successful_requests_are_dropped_and_failures_kept() -> None:
    # Given the filter moto's server installs on werkzeug's logger
    quiet = QuietSuccessFilter()
    # Then pump polls (200) vanish, refused conditions (400) and crashes (500) stay
    assert not quiet.filter(_access_record("200"))
    assert quiet.filter(_access_record("400"))
    assert quiet.filter(_access_record("500"))


def test_other_server_messages_are_kept() -> None:
    startup = logging.LogRecord(
        "werkzeug", logging.INFO, __file__, 1, " * Running on %s", ("http://127.0.0.1:4566",), None
    )
    assert QuietSuccessFilter().filter(startup)
