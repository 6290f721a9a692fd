"""A bounded schemathesis run from docs/openapi.json against a local runtime of its own: for
requests generated from the document (random bodies, within and beyond each route's schema), no
answer may be a 5xx, and every answer must be one the document describes (status, content type,
body schema).

The runtime is this module's own (generated admin updates change its settings). Tencent's REST
routes (/v4/..., API.md section 10) take the admin's UserSig in the query string: the generated
query keeps its `random` and `contenttype` but gets a valid `sdkappid`, `identifier` and
`usersig` in most examples, so the generated bodies reach the operation.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from tests.e2e.conftest import (
    ADMIN,
    ROOT,
    SDKAPPID,
    Runtime,
    start_runtime,
    stop_runtime,
    user_sig,
)

SCHEMA = schemathesis.openapi.from_path(ROOT / "docs" / "openapi.json")
PATHS = sorted(SCHEMA.raw_schema["paths"])
EXAMPLES = 15  # per route: bounded, so `make test` stays quick
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture(scope="module")
def own_runtime(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    log_path: Path = tmp_path_factory.mktemp("fuzz") / "runtime.log"
    started = start_runtime(log_path)
    yield started
    stop_runtime(started)


@pytest.mark.parametrize("path", PATHS)
def test_generated_requests_get_documented_answers_and_never_a_5xx(
    own_runtime: Runtime, path: str
) -> None:
    operation = SCHEMA[path]["POST"]
    caller = ADMIN if "/admin/" in path else "fuzzer"
    headers = {"Authorization": f"Bearer {user_sig(caller)}"}

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy())
    def check(case: schemathesis.Case) -> None:
        if path.startswith("/v4/") and zlib.crc32(repr(case.body).encode()) % 4:
            case.query = {
                **(case.query or {}),
                "sdkappid": SDKAPPID,
                "identifier": ADMIN,
                "usersig": user_sig(ADMIN),
            }
        response = case.call(base_url=own_runtime.http_url, headers=headers, timeout=30)
        case.validate_response(response, checks=CHECKS)

    check()
