"""The local moto server keeps its log for what matters: failed requests, not every pump poll."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from werkzeug.serving import WSGIRequestHandler

from local.moto_server import QuietSuccessFilter


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@pytest.fixture
def werkzeug_log() -> Iterator[_Capture]:
    """werkzeug's logger with the filter moto's server installs, captured."""
    logger = logging.getLogger("werkzeug")
    capture, quiet = _Capture(), QuietSuccessFilter()
    logger.addHandler(capture)
    logger.addFilter(quiet)
    yield capture
    logger.removeFilter(quiet)
    logger.removeHandler(capture)


def _served(status: int) -> None:
    """Have werkzeug's own request handler write its access-log line for one request."""
    handler = WSGIRequestHandler.__new__(WSGIRequestHandler)
    handler.client_address = ("127.0.0.1", 50000)
    handler.command, handler.path, handler.request_version = "POST", "/", "HTTP/1.1"
    handler.log_request(status, "-")


def test_successful_requests_are_dropped_and_failures_kept(werkzeug_log: _Capture) -> None:
    # When moto answers a pump poll (200), a refused condition (400) and a crash (500)
    for status in (200, 400, 500):
        _served(status)
    # Then only the failures are in the log
    assert [line.split('" ')[-1] for line in werkzeug_log.lines] == ["400 -", "500 -"]


def test_other_server_messages_are_kept(werkzeug_log: _Capture) -> None:
    logging.getLogger("werkzeug").info(" * Running on %s", "http://127.0.0.1:4566")
    assert werkzeug_log.lines == [" * Running on http://127.0.0.1:4566"]
