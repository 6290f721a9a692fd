"""docs/openapi.json describes the HTTP API as deployed: template.yaml's routes and the
handlers' own request bodies (regenerate with `make openapi` after changing either)."""

from __future__ import annotations

import json
import os
from typing import Any

import pytest

from local import openapi
from local import template as cfn
from local.harness import handler_module

# Powertools reads these when the handlers' modules are imported
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "presence")
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")


@pytest.fixture(scope="module")
def committed() -> dict[str, Any]:
    return dict(json.loads(openapi.DOC_PATH.read_text()))


def test_the_committed_document_is_what_the_code_describes(committed: dict[str, Any]) -> None:
    assert committed == openapi.build(), "docs/openapi.json is stale: run `make openapi`"


def test_it_has_every_route_of_the_template_and_no_other(committed: dict[str, Any]) -> None:
    routes = {(r.method.lower(), r.path) for r in cfn.http_routes(cfn.load_template())}
    documented = {(m, p) for p, ops in committed["paths"].items() for m in ops}
    assert documented == routes


def test_each_request_body_is_the_handlers_own_model(committed: dict[str, Any]) -> None:
    for route in cfn.http_routes(cfn.load_template()):
        module = handler_module(route.code_dir.name)
        model = module.lambda_handler.body_model
        schema = committed["paths"][route.path]["post"]["requestBody"]["content"][
            "application/json"
        ]["schema"]
        expected = model.model_json_schema(ref_template="#/components/schemas/{model}")
        expected.pop("$defs", None)
        assert schema == expected, route.path
    assert committed["openapi"] == "3.1.0"
