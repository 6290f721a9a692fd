"""template.yaml, read through local/template.py, gives routes, tables and environments."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from local.template import (
    ROOT,
    Template,
    create_tables,
    function_environment,
    http_routes,
    load_template,
    resolve,
    table_specs,
)

FUNCTIONS = {
    "set_self_status": ("SetSelfStatusFunction", "/v1/setSelfStatus"),
    "get_user_status": ("GetUserStatusFunction", "/v1/getUserStatus"),
    "subscribe_user_status": ("SubscribeUserStatusFunction", "/v1/subscribeUserStatus"),
    "unsubscribe_user_status": ("UnsubscribeUserStatusFunction", "/v1/unsubscribeUserStatus"),
    "get_subscriptions": ("GetSubscriptionsFunction", "/v1/getSubscriptions"),
    "admin_get_settings": ("AdminGetSettingsFunction", "/v1/admin/getSettings"),
    "admin_update_settings": ("AdminUpdateSettingsFunction", "/v1/admin/updateSettings"),
}
TABLES = ["StatusTable", "SubscriptionsTable", "RateLimitsTable", "SettingsTable"]
SECRET_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:usersig-AbCdEf"


@pytest.fixture(scope="module")
def template() -> Template:
    return load_template()


def refs() -> dict[str, str]:
    return {**{t: f"presence-{t}" for t in TABLES}, "UserSigSecret": SECRET_ARN}


def test_short_tags_become_long_form(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text(
        "A: !Ref X\n"
        "B: !GetAtt T.Arn\n"
        "C: !Sub '${T.Arn}/index/*'\n"
        "D: !Join [',', [a, !Ref Y]]\n"
        "E: !If [Cond, 1, !Ref AWS::NoValue]\n"
        "F: !Select [0, !GetAZs '']\n"
        "G: !Equals [!Ref P, x]\n"
    )
    assert load_template(path) == {
        "A": {"Ref": "X"},
        "B": {"Fn::GetAtt": ["T", "Arn"]},
        "C": {"Fn::Sub": "${T.Arn}/index/*"},
        "D": {"Fn::Join": [",", ["a", {"Ref": "Y"}]]},
        "E": {"Fn::If": ["Cond", 1, {"Ref": "AWS::NoValue"}]},
        "F": {"Fn::Select": [0, {"Fn::GetAZs": ""}]},
        "G": {"Fn::Equals": [{"Ref": "P"}, "x"]},
    }


def test_routes_match_the_seven_functions(template: Template) -> None:
    routes = http_routes(template)
    got = {(r.method, r.path, r.function, r.code_dir.as_posix(), r.handler) for r in routes}
    want = {
        ("POST", path, logical_id, f"functions/{code_dir}", "app.lambda_handler")
        for code_dir, (logical_id, path) in FUNCTIONS.items()
    }
    assert len(routes) == len(want)
    assert got == want


def test_every_function_has_a_sample_event(template: Template) -> None:
    for route in http_routes(template):
        event: dict[str, Any] = json.loads(
            (ROOT / "events" / f"{route.code_dir.name}.json").read_text()
        )
        assert event["version"] == "2.0"
        assert event["routeKey"] == f"{route.method} {route.path}"
        assert event["rawPath"] == route.path
        assert event["requestContext"]["http"]["method"] == route.method
        assert event["requestContext"]["http"]["path"] == route.path
        assert event["requestContext"]["stage"] == "$default"
        assert event["headers"]["authorization"].startswith("Bearer ")
        assert isinstance(json.loads(event["body"]), dict)
        assert event["isBase64Encoded"] is False


def test_table_specs_follow_the_template(template: Template) -> None:
    specs = table_specs(template)
    assert sorted(specs) == sorted(TABLES)
    for spec in specs.values():
        assert "TableName" not in spec.create_kwargs
        assert spec.create_kwargs["BillingMode"] == "PAY_PER_REQUEST"

    status = specs["StatusTable"].create_kwargs
    assert status["StreamSpecification"] == {
        "StreamEnabled": True,
        "StreamViewType": "NEW_AND_OLD_IMAGES",
    }
    subs = specs["SubscriptionsTable"]
    assert subs.ttl_attribute == "expiresAt"
    assert [i["IndexName"] for i in subs.create_kwargs["LocalSecondaryIndexes"]] == ["bySeq"]
    assert [i["IndexName"] for i in subs.create_kwargs["GlobalSecondaryIndexes"]] == ["byTarget"]
    assert specs["RateLimitsTable"].ttl_attribute == "expiresAt"
    assert specs["StatusTable"].ttl_attribute is None
    assert specs["SettingsTable"].ttl_attribute is None


def test_every_table_can_be_created_in_moto(template: Template) -> None:
    names = {t: f"test-{t}" for t in TABLES}
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_tables(client, template, names)
        for logical_id, spec in table_specs(template).items():
            table = client.describe_table(TableName=names[logical_id])["Table"]
            assert table["KeySchema"] == spec.create_kwargs["KeySchema"]
            ttl = client.describe_time_to_live(TableName=names[logical_id])
            status = ttl["TimeToLiveDescription"]["TimeToLiveStatus"]
            assert (status == "ENABLED") == (spec.ttl_attribute is not None)
        status_table = client.describe_table(TableName=names["StatusTable"])["Table"]
        assert status_table["LatestStreamArn"]
        subs = client.describe_table(TableName=names["SubscriptionsTable"])["Table"]
        assert subs["LocalSecondaryIndexes"][0]["IndexName"] == "bySeq"
        assert subs["GlobalSecondaryIndexes"][0]["IndexName"] == "byTarget"


def test_every_function_environment_resolves(template: Template) -> None:
    for logical_id, _ in FUNCTIONS.values():
        env = function_environment(template, logical_id, refs())
        assert env == {
            "STATUS_TABLE": "presence-StatusTable",
            "SUBSCRIPTIONS_TABLE": "presence-SubscriptionsTable",
            "RATE_LIMITS_TABLE": "presence-RateLimitsTable",
            "SETTINGS_TABLE": "presence-SettingsTable",
            "SDKAPPID": "1400000000",
            "USERSIG_SECRET_ARN": SECRET_ARN,
            "POWERTOOLS_SERVICE_NAME": "presence",
            "POWERTOOLS_METRICS_NAMESPACE": "Presence",
            "POWERTOOLS_LOG_LEVEL": "INFO",
        }
        leftovers = [v for v in env.values() if re.search(r"\$\{|Fn::|'Ref'", v)]
        assert not leftovers


def test_environment_parameters_can_be_overridden(template: Template) -> None:
    env = function_environment(
        template, "SetSelfStatusFunction", {**refs(), "SdkAppId": "1400000001", "LogLevel": "DEBUG"}
    )
    assert env["SDKAPPID"] == "1400000001"
    assert env["POWERTOOLS_LOG_LEVEL"] == "DEBUG"


def test_missing_reference_is_an_error(template: Template) -> None:
    with pytest.raises(KeyError, match="StatusTable"):
        function_environment(template, "SetSelfStatusFunction", {})


def test_sub_resolves_attributes_and_pseudo_parameters(template: Template) -> None:
    url = resolve(template, template["Outputs"]["HttpApiUrl"]["Value"], {"HttpApi": "abc123"})
    assert url == "https://abc123.execute-api.us-east-1.amazonaws.com/"
    arn = resolve(template, {"Fn::Sub": "${T.Arn}/index/*"}, {"T.Arn": "arn:t"})
    assert arn == "arn:t/index/*"


def test_no_policy_grants_scan_or_wildcards(template: Template) -> None:
    for logical_id, _ in FUNCTIONS.values():
        props = template["Resources"][logical_id]["Properties"]
        for policy in props["Policies"]:
            assert isinstance(policy, dict), f"{logical_id}: only inline statements"
            for statement in policy["Statement"]:
                actions = statement["Action"]
                actions = [actions] if isinstance(actions, str) else actions
                assert all("*" not in a and not a.endswith("Scan") for a in actions), logical_id
                resources = statement["Resource"]
                resources = resources if isinstance(resources, list) else [resources]
                assert "*" not in resources, logical_id
