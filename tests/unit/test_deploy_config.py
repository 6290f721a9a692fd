"""samconfig.toml and the template's Auth block: what lets `sam deploy` (and `sam deploy --guided`
answered with Enter) deploy the stack the README's commands name."""

from __future__ import annotations

import tomllib
from typing import Any

import pytest

from local.template import ROOT, Template, load_template


@pytest.fixture(scope="module")
def template() -> Template:
    return load_template()


def deploy_settings() -> dict[str, Any]:
    config = tomllib.loads((ROOT / "samconfig.toml").read_text())
    assert config["version"] == 0.1  # the SAM CLI refuses a file without a float version
    settings: dict[str, Any] = config["default"]["deploy"]["parameters"]
    return settings


def test_sam_deploy_needs_no_questions() -> None:
    settings = deploy_settings()
    assert settings["stack_name"] == "presence"  # README: describe-stacks --stack-name presence
    assert settings["resolve_s3"] is True
    assert settings["capabilities"] == "CAPABILITY_IAM"
    # Enter at "Deploy this changeset? [y/N]" would answer No: no such question by default
    assert settings["confirm_changeset"] is False
    assert settings["fail_on_empty_changeset"] is False
    # the region and the parameters are the deployer's (AWS_REGION, --parameter-overrides)
    assert "region" not in settings and "parameter_overrides" not in settings


def test_http_api_declares_that_it_has_no_authorizer(template: Template) -> None:
    """The SAM CLI asks "<function> has no authentication. Is this okay? [y/N]" (Enter: No, the
    guided deploy aborts) for every HttpApi route unless the route or its API has an Auth block.
    The block says there is no authorizer: the functions verify the UserSig (API.md section 1)."""
    api = template["Resources"]["HttpApi"]["Properties"]
    assert api["Auth"] == {"EnableIamAuthorizer": False}
    for resource in template["Resources"].values():
        for event in resource.get("Properties", {}).get("Events", {}).values():
            if event["Type"] == "HttpApi":
                assert event["Properties"]["ApiId"] == {"Ref": "HttpApi"}
                assert "Auth" not in event["Properties"]
