"""Contract tests: the OpenAPI document against the code, the docs page, and the fuzzer.

``local_stack`` is the e2e suite's session fixture (the real local stack over HTTP), re-exported
here so the docs-page and fuzz tests can use it.
"""

from __future__ import annotations

from tests.e2e.conftest import local_stack

__all__ = ["local_stack"]
