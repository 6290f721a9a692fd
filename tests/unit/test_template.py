"""template.yaml, read through local/template.py, gives routes, tables, queues, consumers and
environments."""

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
    create_queues,
    create_tables,
    function_environment,
    http_routes,
    load_template,
    queue_consumers,
    queue_specs,
    resolve,
    stream_consumers,
    table_specs,
    websocket_routes,
)

FUNCTIONS = {
    "set_self_status": ("SetSelfStatusFunction", "/v1/setSelfStatus"),
    "get_user_status": ("GetUserStatusFunction", "/v1/getUserStatus"),
    "subscribe_user_status": ("SubscribeUserStatusFunction", "/v1/subscribeUserStatus"),
    "unsubscribe_user_status": ("UnsubscribeUserStatusFunction", "/v1/unsubscribeUserStatus"),
    "get_subscriptions": ("GetSubscriptionsFunction", "/v1/getSubscriptions"),
    "admin_get_settings": ("AdminGetSettingsFunction", "/v1/admin/getSettings"),
    "admin_update_settings": ("AdminUpdateSettingsFunction", "/v1/admin/updateSettings"),
    "admin_import_friends": ("AdminImportFriendsFunction", "/v1/admin/importFriends"),
    "admin_delete_friends": ("AdminDeleteFriendsFunction", "/v1/admin/deleteFriends"),
    "admin_query_online_status": (
        "AdminQueryOnlineStatusFunction",
        "/v1/admin/queryOnlineStatus",
    ),
    "admin_kick_user": ("AdminKickUserFunction", "/v1/admin/kickUser"),
    # Tencent's REST API (API.md section 10)
    "tencent_query_online_status": (
        "TencentQueryOnlineStatusFunction",
        "/v4/openim/query_online_status",
    ),
    "tencent_kick": ("TencentKickFunction", "/v4/im_open_login_svc/kick"),
}
# route key -> (dir, logical id, two-way)
WS_FUNCTIONS = {
    "$connect": ("ws_connect", "WsConnectFunction", False),
    "$disconnect": ("ws_disconnect", "WsDisconnectFunction", False),
    "logout": ("ws_logout", "WsLogoutFunction", False),
    "$default": ("ws_default", "WsDefaultFunction", True),
}
OTHER_FUNCTIONS = {
    "status_fanout": "StatusFanoutFunction",
    "status_delivery": "StatusDeliveryFunction",
    "status_timers": "StatusTimersFunction",
    "state_change_callback": "StateChangeCallbackFunction",
}
ALL_FUNCTIONS = {
    **{code_dir: logical_id for code_dir, (logical_id, _) in FUNCTIONS.items()},
    **{code_dir: logical_id for code_dir, logical_id, _ in WS_FUNCTIONS.values()},
    **OTHER_FUNCTIONS,
}
TABLES = [
    "StatusTable",
    "SubscriptionsTable",
    "RateLimitsTable",
    "SettingsTable",
    "ConnectionsTable",
    "FriendsTable",
]
QUEUES = [
    "TimersQueue",
    "TimersDeadLetterQueue",
    "FanoutFailureQueue",
    "DeliveryQueue",
    "DeliveryDeadLetterQueue",
    "StateChangeCallbackQueue",
    "StateChangeCallbackDeadLetterQueue",
]
DELIVERY_URL = "https://sqs.us-east-1.amazonaws.com/123456789012/presence-DeliveryQueue.fifo"
SECRET_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:usersig-AbCdEf"
TIMERS_URL = "https://sqs.us-east-1.amazonaws.com/123456789012/presence-TimersQueue"
API_ID = "a1b2c3d4e5"
WS_API_ARN = f"arn:aws:execute-api:us-east-1:123456789012:{API_ID}/*"
SCHEDULE_GROUP = "presence-timers"
EVENT_BUS_ARN = "arn:aws:events:us-east-1:123456789012:event-bus/presence-status-events"
SCHEDULER_ROLE_ARN = "arn:aws:iam::123456789012:role/presence-TimersSchedulerRole"
SCHEDULES_ARN = f"arn:aws:scheduler:us-east-1:123456789012:schedule/{SCHEDULE_GROUP}/*"
CALLBACKS_URL = "https://sqs.us-east-1.amazonaws.com/123456789012/presence-StateChangeCallbackQueue"
TOKEN_SECRET_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:callback-token-AbCdEf"


@pytest.fixture(scope="module")
def template() -> Template:
    return load_template()


def refs() -> dict[str, str]:
    return {
        **{t: f"presence-{t}" for t in TABLES},
        "UserSigSecret": SECRET_ARN,
        "TimersQueue": TIMERS_URL,
        "TimersQueue.Arn": "arn:aws:sqs:us-east-1:123456789012:TimersQueue",
        "DeliveryQueue": DELIVERY_URL,
        "StateChangeCallbackQueue": CALLBACKS_URL,
        "StatusEventBus": "presence-status-events",
        "WebSocketApi": API_ID,
        "TimersScheduleGroup": SCHEDULE_GROUP,
        "TimersSchedulerRole.Arn": SCHEDULER_ROLE_ARN,
    }


def statements(
    template: Template, logical_id: str, conditions: dict[str, bool] | None = None
) -> list[dict[str, Any]]:
    """The function's inline policy statements, with Action and Resource always lists; a policy
    under `Fn::If` counts when its condition holds in `conditions` (default: does not)."""
    out: list[dict[str, Any]] = []
    for entry in template["Resources"][logical_id]["Properties"].get("Policies", []):
        policy = entry
        if isinstance(entry, dict) and "Fn::If" in entry:
            name, when_true, when_false = entry["Fn::If"]
            policy = when_true if (conditions or {}).get(name, False) else when_false
            if policy == {"Ref": "AWS::NoValue"}:
                continue
        assert isinstance(policy, dict), f"{logical_id}: only inline statements"
        for statement in policy["Statement"]:
            action, resource = statement["Action"], statement["Resource"]
            out.append(
                {
                    **statement,
                    "Action": [action] if isinstance(action, str) else action,
                    "Resource": resource if isinstance(resource, list) else [resource],
                }
            )
    return out


def grants(template: Template, logical_id: str, *, token: bool = False) -> set[tuple[str, str]]:
    """(action, resource) pairs the function's inline policies allow, resources resolved;
    `token`: as deployed with a StateChangeCallbackToken (condition HasCallbackToken)."""
    resolved = {
        "StateChangeCallbackTokenSecret": TOKEN_SECRET_ARN,
        **refs(),
        **{f"{t}.Arn": f"arn:aws:dynamodb:us-east-1:123456789012:table/{t}" for t in TABLES},
        **{f"{q}.Arn": f"arn:aws:sqs:us-east-1:123456789012:{q}" for q in QUEUES},
        "UserSigSecret": SECRET_ARN,
        "StatusEventBus.Arn": EVENT_BUS_ARN,
    }
    return {
        (action, resolve(template, resource, resolved))
        for statement in statements(template, logical_id, {"HasCallbackToken": token})
        if statement["Effect"] == "Allow"
        for action in statement["Action"]
        for resource in statement["Resource"]
    }


def table_arn(logical_id: str) -> str:
    return f"arn:aws:dynamodb:us-east-1:123456789012:table/{logical_id}"


def queue_arn(logical_id: str) -> str:
    return f"arn:aws:sqs:us-east-1:123456789012:{logical_id}"


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


def test_routes_match_the_http_functions(template: Template) -> None:
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
        if route.path.startswith("/v4/"):
            # Tencent's REST conventions: the admin's UserSig in the query string
            query = event["queryStringParameters"]
            assert set(query) == {"sdkappid", "identifier", "usersig", "random", "contenttype"}
            assert event["rawQueryString"] == "&".join(f"{k}={v}" for k, v in query.items())
            assert "authorization" not in event["headers"]
        else:
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
    assert "LocalSecondaryIndexes" not in subs.create_kwargs
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
        assert subs["GlobalSecondaryIndexes"][0]["IndexName"] == "byTarget"


def test_every_function_environment_resolves(template: Template) -> None:
    functions = {
        logical_id
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == "AWS::Serverless::Function"
    }
    assert functions == set(ALL_FUNCTIONS.values())
    for logical_id in sorted(functions):
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
            "POWERTOOLS_TRACER_CAPTURE_RESPONSE": "false",
            "CONNECTIONS_TABLE": "presence-ConnectionsTable",
            "FRIENDS_TABLE": "presence-FriendsTable",
            "TIMERS_QUEUE_URL": TIMERS_URL,
            "TIMERS_QUEUE_ARN": "arn:aws:sqs:us-east-1:123456789012:TimersQueue",
            "TIMERS_SCHEDULE_GROUP": SCHEDULE_GROUP,
            "TIMERS_SCHEDULER_ROLE_ARN": SCHEDULER_ROLE_ARN,
            "DELIVERY_QUEUE_URL": DELIVERY_URL,
            "STATUS_EVENT_BUS": "presence-status-events",
            "LIVENESS_TIMEOUT_SECONDS": "90",
            "STATE_CHANGE_CALLBACK_URL": "",
            "STATE_CHANGE_CALLBACK_QUEUE_URL": CALLBACKS_URL,
            "STATE_CHANGE_CALLBACK_TOKEN_SECRET": "",
            "WS_MANAGEMENT_ENDPOINT": f"https://{API_ID}.execute-api.us-east-1.amazonaws.com/prod",
        }
        leftovers = [v for v in env.values() if re.search(r"\$\{|Fn::|'Ref'", v)]
        assert not leftovers


def test_environment_parameters_can_be_overridden(template: Template) -> None:
    overrides = {
        "SdkAppId": "1400000001",
        "LogLevel": "DEBUG",
        "WebSocketStageName": "dev",
        "AWS::Region": "eu-west-1",
    }
    env = function_environment(template, "SetSelfStatusFunction", {**refs(), **overrides})
    assert env["SDKAPPID"] == "1400000001"
    assert env["POWERTOOLS_LOG_LEVEL"] == "DEBUG"
    assert env["WS_MANAGEMENT_ENDPOINT"] == (
        f"https://{API_ID}.execute-api.eu-west-1.amazonaws.com/dev"
    )


def test_the_callback_parameters_reach_every_function(template: Template) -> None:
    """The URL as given; the token's secret only when a token is given (Fn::If on the
    HasCallbackToken condition), never the token itself."""
    given = {
        **refs(),
        "StateChangeCallbackUrl": "https://backend.example.com/im/callback",
        "StateChangeCallbackToken": "s3cr3t-token",
        "StateChangeCallbackTokenSecret": TOKEN_SECRET_ARN,
    }
    env = function_environment(template, "StateChangeCallbackFunction", given)
    assert env["STATE_CHANGE_CALLBACK_URL"] == "https://backend.example.com/im/callback"
    assert env["STATE_CHANGE_CALLBACK_TOKEN_SECRET"] == TOKEN_SECRET_ARN
    assert "s3cr3t-token" not in json.dumps(env)
    unsigned = function_environment(template, "StatusFanoutFunction", refs())
    assert unsigned["STATE_CHANGE_CALLBACK_TOKEN_SECRET"] == ""
    token = template["Parameters"]["StateChangeCallbackToken"]
    assert token["NoEcho"] is True and token["Default"] == ""
    secret = template["Resources"]["StateChangeCallbackTokenSecret"]
    assert secret["Condition"] == "HasCallbackToken"
    assert secret["Properties"]["SecretString"] == {"Ref": "StateChangeCallbackToken"}


def test_conditions_resolve_from_parameters(template: Template) -> None:
    value = {"Fn::If": ["HasCallbackToken", "yes", "no"]}
    assert resolve(template, value, {}) == "no"
    assert resolve(template, value, {"StateChangeCallbackToken": "t"}) == "yes"
    assert resolve(template, {"Fn::If": ["HasAlarmTopic", "a", "b"]}, {"AlarmTopicArn": "x"}) == "a"
    with pytest.raises(KeyError, match="NoSuchCondition"):
        resolve(template, {"Fn::If": ["NoSuchCondition", "a", "b"]}, {})


def test_missing_reference_is_an_error(template: Template) -> None:
    with pytest.raises(KeyError, match="StatusTable"):
        function_environment(template, "SetSelfStatusFunction", {})


def test_sub_resolves_attributes_and_pseudo_parameters(template: Template) -> None:
    url = resolve(template, template["Outputs"]["HttpApiUrl"]["Value"], {"HttpApi": "abc123"})
    assert url == "https://abc123.execute-api.us-east-1.amazonaws.com/"
    arn = resolve(template, {"Fn::Sub": "${T.Arn}/index/*"}, {"T.Arn": "arn:t"})
    assert arn == "arn:t/index/*"


def test_no_policy_grants_scan_or_wildcards(template: Template) -> None:
    for logical_id in ALL_FUNCTIONS.values():
        for statement in statements(template, logical_id):
            actions = statement["Action"]
            assert all("*" not in a and not a.endswith("Scan") for a in actions), logical_id
            assert "*" not in statement["Resource"], logical_id
            assert statement["Effect"] == "Allow", logical_id


# ------------------------------------------------------------------------ WebSocket API


def test_websocket_routes_map_to_their_functions(template: Template) -> None:
    routes = [r for r in websocket_routes(template) if r.function]
    assert len(routes) == len(WS_FUNCTIONS)
    got = {r.route_key: (r.code_dir.as_posix(), r.function, r.handler) for r in routes}
    assert got == {
        key: (f"functions/{code_dir}", logical_id, "app.lambda_handler")
        for key, (code_dir, logical_id, _) in WS_FUNCTIONS.items()
    }


def test_ping_and_beat_are_noted_by_api_gateway_with_no_function(template: Template) -> None:
    """API.md section 6: both are liveness evidence, written on the connection's item by a
    DynamoDB service integration; ping answers pong with heartbeatSeconds, beat nothing."""
    routes = {r.route_key: r for r in websocket_routes(template, {"ConnectionsTable": "conns"})}
    ping, beat = routes["ping"], routes["beat"]
    assert ping.function == beat.function == "" and ping.two_way and not beat.two_way
    assert json.loads(ping.response_template or "") == {"event": "pong", "heartbeatSeconds": 30}
    for route in (ping, beat):
        assert route.service_action == "dynamodb:UpdateItem"
        request = json.loads(route.request_template or "")
        assert request["TableName"] == "conns"
        assert request["Key"] == {"connectionId": {"S": "$context.connectionId"}}
        assert request["UpdateExpression"] == "SET seenAt = :t"
        assert request["ExpressionAttributeValues"] == {":t": {"N": "$context.requestTimeEpoch"}}
    integration = template["Resources"]["WsSeenIntegration"]["Properties"]
    assert integration["IntegrationType"] == "AWS"
    role = template["Resources"]["WsSeenRole"]["Properties"]
    (statement,) = role["Policies"][0]["PolicyDocument"]["Statement"]
    assert statement["Action"] == "dynamodb:UpdateItem"
    assert statement["Resource"] == {"Fn::GetAtt": ["ConnectionsTable", "Arn"]}


def test_the_heartbeat_mapping_is_a_third_of_each_allowed_timeout(template: Template) -> None:
    from presence.config import heartbeat_seconds

    parameter = template["Parameters"]["LivenessTimeoutSeconds"]
    mapping = template["Mappings"]["Liveness"]
    assert parameter["Default"] == "90"
    assert set(parameter["AllowedValues"]) == set(mapping)
    for timeout, row in mapping.items():
        assert row["HeartbeatSeconds"] == heartbeat_seconds(int(timeout))
        assert int(timeout) == 0 or 3 * row["HeartbeatSeconds"] <= int(timeout)


def test_ping_and_default_are_two_way(template: Template) -> None:
    two_way = {r.route_key for r in websocket_routes(template) if r.two_way}
    assert two_way == {"ping", "$default"}
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::ApiGatewayV2::RouteResponse":
            assert resource["Properties"]["RouteResponseKey"] == "$default"


def test_websocket_api_selects_routes_by_action(template: Template) -> None:
    api = template["Resources"]["WebSocketApi"]["Properties"]
    assert api["ProtocolType"] == "WEBSOCKET"
    assert api["RouteSelectionExpression"] == "$request.body.action"
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::ApiGatewayV2::Route":
            assert resource["Properties"]["AuthorizationType"] == "NONE"
        if resource["Type"] == "AWS::ApiGatewayV2::Integration":
            # every route a function, but ping and beat: API Gateway notes them in DynamoDB
            expected = "AWS" if "ping" in resource["Properties"]["Description"] else "AWS_PROXY"
            assert resource["Properties"]["IntegrationType"] == expected


def test_websocket_stage_deploys_every_change(template: Template) -> None:
    """API Gateway redeploys the stage itself whenever a route or integration changes
    (AutoDeploy). A Deployment resource would pin the stage to a snapshot that CloudFormation
    never takes again, so a later route change would never go live."""
    resources = template["Resources"]
    route_ids = {
        logical_id
        for logical_id, resource in resources.items()
        if resource["Type"]
        in (
            "AWS::ApiGatewayV2::Route",
            "AWS::ApiGatewayV2::RouteResponse",
            "AWS::ApiGatewayV2::IntegrationResponse",
        )
    }
    deployments = [r for r in resources.values() if r["Type"] == "AWS::ApiGatewayV2::Deployment"]
    assert deployments == []
    (stage_resource,) = [r for r in resources.values() if r["Type"] == "AWS::ApiGatewayV2::Stage"]
    assert stage_resource is resources["WebSocketStage"]
    stage = stage_resource["Properties"]
    assert stage["AutoDeploy"] is True
    assert "DeploymentId" not in stage
    # created after every route, so its first deployment already serves them all
    assert set(stage_resource["DependsOn"]) == route_ids
    assert stage["StageName"] == {"Ref": "WebSocketStageName"}
    assert template["Parameters"]["WebSocketStageName"]["Default"] == "prod"
    settings = stage["DefaultRouteSettings"]
    # every connected device's heartbeat is a frame here: the defaults carry 150,000 devices
    # beating every 30 s (a throttled beat is lost liveness evidence)
    assert settings["ThrottlingRateLimit"] == {"Ref": "WebSocketThrottlingRateLimit"}
    assert settings["ThrottlingBurstLimit"] == {"Ref": "WebSocketThrottlingBurstLimit"}
    parameters = template["Parameters"]
    assert parameters["WebSocketThrottlingRateLimit"]["Default"] >= 150_000 // 30
    assert parameters["WebSocketThrottlingBurstLimit"]["Default"] > 0
    assert settings["LoggingLevel"] == "OFF" and settings["DataTraceEnabled"] is False


def test_websocket_access_logs_follow_their_parameter(template: Template) -> None:
    """Off by default (they need the region's account-wide API Gateway CloudWatch role); "on"
    uses the role the account has, "on-create-role" creates it, sets it and keeps it."""
    resources, conditions = template["Resources"], template["Conditions"]
    parameter = template["Parameters"]["WebSocketAccessLogs"]
    assert parameter["Default"] == "off"
    assert parameter["AllowedValues"] == ["off", "on", "on-create-role"]
    assert conditions["WebSocketAccessLogsEnabled"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "WebSocketAccessLogs"}, "off"]}]
    }
    assert conditions["CreatesApiGatewayLogsRole"] == {
        "Fn::Equals": [{"Ref": "WebSocketAccessLogs"}, "on-create-role"]
    }
    group = resources["WebSocketAccessLogGroup"]
    assert group["Condition"] == "WebSocketAccessLogsEnabled"
    assert group["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}

    condition, settings, no_value = resources["WebSocketStage"]["Properties"]["AccessLogSettings"][
        "Fn::If"
    ]
    assert (condition, no_value) == ("WebSocketAccessLogsEnabled", {"Ref": "AWS::NoValue"})
    group_arn = {"Fn::GetAtt": ["WebSocketAccessLogGroup", "Arn"]}
    creates, waits_for_account, existing = settings["DestinationArn"]["Fn::If"]
    assert creates == "CreatesApiGatewayLogsRole" and existing == group_arn
    # the same ARN, with a reference that orders the stage after the account setting
    assert waits_for_account == {"Fn::Select": [0, [group_arn, {"Ref": "ApiGatewayAccount"}]]}
    fields = json.loads(settings["Format"])
    assert fields["requestId"] == "$context.requestId"  # API Gateway requires a request id
    assert {"eventType", "routeKey", "connectionId", "status"} <= set(fields)

    role, account = resources["ApiGatewayLogsRole"], resources["ApiGatewayAccount"]
    for resource in (role, account):
        assert resource["Condition"] == "CreatesApiGatewayLogsRole"
        # no API resets the account setting: deleting the role would break the region's logs
        assert resource["DeletionPolicy"] == "Retain"
    (trust,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "apigateway.amazonaws.com"}
    assert role["Properties"]["ManagedPolicyArns"] == [
        {
            "Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/service-role/"
            "AmazonAPIGatewayPushToCloudWatchLogs"
        }
    ]
    assert account["Properties"]["CloudWatchRoleArn"] == {
        "Fn::GetAtt": ["ApiGatewayLogsRole", "Arn"]
    }


def test_every_websocket_function_may_be_invoked_by_this_api_only(template: Template) -> None:
    permissions = {
        resource["Properties"]["FunctionName"]["Ref"]: resource["Properties"]
        for resource in template["Resources"].values()
        if resource["Type"] == "AWS::Lambda::Permission"
    }
    assert set(permissions) == {logical_id for _, logical_id, _ in WS_FUNCTIONS.values()}
    for props in permissions.values():
        assert props["Action"] == "lambda:InvokeFunction"
        assert props["Principal"] == "apigateway.amazonaws.com"
        assert resolve(template, props["SourceArn"], refs()) == WS_API_ARN


def test_websocket_url_output(template: Template) -> None:
    url = resolve(template, template["Outputs"]["WebSocketUrl"]["Value"], refs())
    assert url == f"wss://{API_ID}.execute-api.us-east-1.amazonaws.com/prod"


def test_websocket_routes_accept_join_targets(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text(
        "Resources:\n"
        "  Api: {Type: AWS::ApiGatewayV2::Api, Properties: {ProtocolType: WEBSOCKET}}\n"
        "  Http: {Type: AWS::ApiGatewayV2::Api, Properties: {ProtocolType: HTTP}}\n"
        "  Fn:\n"
        "    Type: AWS::Serverless::Function\n"
        "    Properties: {CodeUri: functions/fn/, Handler: app.handler}\n"
        "  Integ:\n"
        "    Type: AWS::ApiGatewayV2::Integration\n"
        "    Properties:\n"
        "      ApiId: !Ref Api\n"
        "      IntegrationUri: !Join ['', [!Sub 'arn:${AWS::Partition}:apigateway:x:lambda:path/"
        "2015-03-31/functions/', !GetAtt Fn.Arn, /invocations]]\n"
        "  Route:\n"
        "    Type: AWS::ApiGatewayV2::Route\n"
        "    Properties: {ApiId: !Ref Api, RouteKey: hello, Target: !Join [/, [integrations, "
        "!Ref Integ]]}\n"
        "  HttpRoute:\n"
        "    Type: AWS::ApiGatewayV2::Route\n"
        "    Properties: {ApiId: !Ref Http, RouteKey: GET /, Target: !Join [/, [integrations, "
        "!Ref Integ]]}\n"
    )
    (route,) = websocket_routes(load_template(path))
    assert (route.route_key, route.function, route.handler) == ("hello", "Fn", "app.handler")
    assert route.code_dir == Path("functions/fn") and not route.two_way


# ------------------------------------------------------------------- stream and queue consumers


def test_fanout_consumes_the_status_stream(template: Template) -> None:
    (consumer,) = stream_consumers(template)
    assert consumer.function == "StatusFanoutFunction"
    assert consumer.code_dir.as_posix() == "functions/status_fanout"
    assert consumer.handler == "app.lambda_handler"
    assert consumer.source == "StatusTable"
    assert consumer.batch_size == 100
    assert consumer.function_response_types == ("ReportBatchItemFailures",)
    assert consumer.on_failure == "FanoutFailureQueue"
    event = template["Resources"]["StatusFanoutFunction"]["Properties"]["Events"][consumer.event]
    props = event["Properties"]
    assert props["Stream"] == {"Fn::GetAtt": ["StatusTable", "StreamArn"]}
    assert props["StartingPosition"] == "LATEST"
    assert props["MaximumBatchingWindowInSeconds"] == 0
    assert props["BisectBatchOnFunctionError"] is True
    assert props["MaximumRetryAttempts"] == 5
    assert props["MaximumRecordAgeInSeconds"] == 3600
    # Type SQS is what makes SAM grant sqs:SendMessage on the destination to the function's role.
    assert props["DestinationConfig"]["OnFailure"]["Type"] == "SQS"


def test_timers_function_consumes_the_timers_queue(template: Template) -> None:
    (consumer,) = [c for c in queue_consumers(template) if c.source == "TimersQueue"]
    assert consumer.function == "StatusTimersFunction"
    assert consumer.code_dir.as_posix() == "functions/status_timers"
    assert consumer.source == "TimersQueue"
    assert consumer.batch_size == 10
    assert consumer.function_response_types == ("ReportBatchItemFailures",)
    assert consumer.on_failure is None
    # Lambda needs the queue's visibility timeout to cover the function's timeout.
    timeout = template["Resources"]["StatusTimersFunction"]["Properties"].get(
        "Timeout", template["Globals"]["Function"]["Timeout"]
    )
    assert int(queue_specs(template)["TimersQueue"].attributes["VisibilityTimeout"]) >= timeout


def test_queue_specs_follow_the_template(template: Template) -> None:
    specs = queue_specs(template)
    assert sorted(specs) == sorted(QUEUES)
    timers = specs["TimersQueue"]
    assert timers.attributes["VisibilityTimeout"] == "60"
    assert (timers.dead_letter_queue, timers.max_receive_count) == ("TimersDeadLetterQueue", 5)
    for logical_id in ("TimersDeadLetterQueue", "FanoutFailureQueue", "DeliveryDeadLetterQueue"):
        assert specs[logical_id].attributes["MessageRetentionPeriod"] == str(14 * 24 * 3600)
        assert specs[logical_id].dead_letter_queue is None
    jobs = specs["DeliveryQueue"]
    assert jobs.attributes["FifoQueue"] == "true"  # ordered per message group, deduplicated
    assert (jobs.dead_letter_queue, jobs.max_receive_count) == ("DeliveryDeadLetterQueue", 5)
    assert specs["DeliveryDeadLetterQueue"].attributes["FifoQueue"] == "true"
    for spec in specs.values():
        assert spec.attributes["SqsManagedSseEnabled"] == "true"
        assert "RedrivePolicy" not in spec.attributes


def test_every_queue_can_be_created_in_moto(template: Template) -> None:
    names = {q: f"test-{q}" for q in QUEUES}
    with mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1")
        urls = create_queues(sqs, template, names)
        assert sorted(urls) == sorted(QUEUES)
        attributes = sqs.get_queue_attributes(QueueUrl=urls["TimersQueue"], AttributeNames=["All"])[
            "Attributes"
        ]
        assert attributes["VisibilityTimeout"] == "60"
        redrive = json.loads(attributes["RedrivePolicy"])
        assert redrive["deadLetterTargetArn"].endswith(":test-TimersDeadLetterQueue")
        assert int(redrive["maxReceiveCount"]) == 5
        assert urls["DeliveryQueue"].endswith("/test-DeliveryQueue.fifo")


def test_connections_table_can_be_created_in_moto(template: Template) -> None:
    spec = table_specs(template)["ConnectionsTable"]
    assert spec.create_kwargs["KeySchema"] == [{"AttributeName": "connectionId", "KeyType": "HASH"}]
    assert spec.ttl_attribute == "expiresAt"
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_tables(client, template, {t: f"test-{t}" for t in TABLES})
        client.put_item(
            TableName="test-ConnectionsTable",
            Item={"connectionId": {"S": "Kx3cXeF0IAMCJdw="}, "userID": {"S": "alice"}},
        )
        item = client.get_item(
            TableName="test-ConnectionsTable", Key={"connectionId": {"S": "Kx3cXeF0IAMCJdw="}}
        )["Item"]
        assert item["userID"] == {"S": "alice"}
        ttl = client.describe_time_to_live(TableName="test-ConnectionsTable")
        assert ttl["TimeToLiveDescription"]["AttributeName"] == "expiresAt"


# ------------------------------------------------------------------------------ IAM


def test_websocket_functions_get_only_what_they_need(template: Template) -> None:
    status, settings = table_arn("StatusTable"), table_arn("SettingsTable")
    connections = table_arn("ConnectionsTable")
    # no timers: the stream derives them from the Status writes
    lifecycle = {
        ("dynamodb:GetItem", status),
        ("dynamodb:UpdateItem", status),
        ("dynamodb:GetItem", settings),
    }
    assert grants(template, "WsConnectFunction") == lifecycle | {
        ("dynamodb:PutItem", connections),
        ("secretsmanager:GetSecretValue", SECRET_ARN),
        ("execute-api:ManageConnections", WS_API_ARN),  # closes connections past the cap
    }
    # a drop writes its connection's entry, nothing else
    assert grants(template, "WsDisconnectFunction") == {
        ("dynamodb:GetItem", connections),
        ("dynamodb:UpdateItem", status),
    }
    assert grants(template, "WsLogoutFunction") == lifecycle | {
        ("dynamodb:GetItem", connections),
        ("dynamodb:DeleteItem", connections),
        ("execute-api:ManageConnections", WS_API_ARN),
    }
    # an unknown frame still counts for liveness: it notes the time on its connection
    assert grants(template, "WsDefaultFunction") == {("dynamodb:UpdateItem", connections)}


def test_fanout_and_timers_get_only_what_they_need(template: Template) -> None:
    status, settings = table_arn("StatusTable"), table_arn("SettingsTable")
    subs = table_arn("SubscriptionsTable")
    timers = {
        ("sqs:SendMessage", queue_arn("TimersQueue")),
        ("scheduler:CreateSchedule", SCHEDULES_ARN),
        ("iam:PassRole", SCHEDULER_ROLE_ARN),
    }
    assert grants(template, "StatusFanoutFunction") == timers | {
        ("dynamodb:BatchGetItem", status),
        ("dynamodb:GetItem", status),
        ("dynamodb:UpdateItem", status),
        ("dynamodb:Query", f"{subs}/index/byTarget"),
        ("dynamodb:Query", table_arn("FriendsTable")),
        ("dynamodb:GetItem", settings),
        ("sqs:SendMessage", queue_arn("DeliveryQueue")),
        ("events:PutEvents", EVENT_BUS_ARN),
        ("sqs:SendMessage", queue_arn("StateChangeCallbackQueue")),
        ("execute-api:ManageConnections", WS_API_ARN),
    }
    # posts to the app backend's URL: its own queue's backoff, and the token when there is one
    assert grants(template, "StateChangeCallbackFunction") == {
        ("sqs:ChangeMessageVisibility", queue_arn("StateChangeCallbackQueue"))
    }
    assert grants(template, "StateChangeCallbackFunction", token=True) == {
        ("sqs:ChangeMessageVisibility", queue_arn("StateChangeCallbackQueue")),
        ("secretsmanager:GetSecretValue", TOKEN_SECRET_ARN),
    }
    assert grants(template, "StatusDeliveryFunction") == {
        ("dynamodb:BatchGetItem", status),
        ("dynamodb:GetItem", status),
        ("dynamodb:UpdateItem", status),
        ("dynamodb:Query", f"{subs}/index/byTarget"),
        ("dynamodb:Query", table_arn("FriendsTable")),
        ("dynamodb:GetItem", settings),
        ("sqs:SendMessage", queue_arn("DeliveryQueue")),
        ("execute-api:ManageConnections", WS_API_ARN),
    }
    assert grants(template, "StatusTimersFunction") == timers | {
        ("dynamodb:GetItem", table_arn("ConnectionsTable")),  # the liveness check's seenAt
        ("dynamodb:GetItem", status),
        ("dynamodb:UpdateItem", status),
        ("dynamodb:Query", subs),
        ("dynamodb:BatchWriteItem", subs),
        ("dynamodb:GetItem", settings),
        ("execute-api:ManageConnections", WS_API_ARN),
    }
    assert grants(template, "SetSelfStatusFunction") == {
        ("dynamodb:UpdateItem", status),
        ("dynamodb:GetItem", settings),
        ("secretsmanager:GetSecretValue", SECRET_ARN),
    }


def test_manage_connections_is_scoped_to_this_api(template: Template) -> None:
    for logical_id in ALL_FUNCTIONS.values():
        for statement in statements(template, logical_id):
            if "execute-api:ManageConnections" in statement["Action"]:
                assert statement["Resource"] == [
                    {
                        "Fn::Sub": "arn:${AWS::Partition}:execute-api:${AWS::Region}:"
                        "${AWS::AccountId}:${WebSocketApi}/*"
                    }
                ]


# --------------------------------------------------------------------------- sample events


def test_every_function_has_an_event_file(template: Template) -> None:
    for code_dir in ALL_FUNCTIONS:
        assert (ROOT / "events" / f"{code_dir}.json").is_file(), code_dir


def test_websocket_sample_events(template: Template) -> None:
    event_types = {"$connect": "CONNECT", "$disconnect": "DISCONNECT"}
    for route in websocket_routes(template):
        if not route.function:
            continue  # MOCK: no function, no event
        event = json.loads((ROOT / "events" / f"{route.code_dir.name}.json").read_text())
        context = event["requestContext"]
        assert context["routeKey"] == route.route_key
        assert context["eventType"] == event_types.get(route.route_key, "MESSAGE")
        assert context["stage"] == "prod"
        assert context["connectionId"] and context["domainName"].startswith(context["apiId"])
        assert isinstance(context["requestTimeEpoch"], int)
        assert isinstance(context["connectedAt"], int)
        assert event["isBase64Encoded"] is False
        if route.route_key == "$connect":
            assert event["queryStringParameters"]["userSig"]
            assert event["queryStringParameters"]["platform"] == "web"
            assert event["headers"]["Host"] == context["domainName"]
        elif route.route_key == "$disconnect":
            assert isinstance(context["disconnectStatusCode"], int)
            assert "disconnectReason" in context
        else:
            body = json.loads(event["body"])
            if route.route_key != "$default":
                assert body == {"action": route.route_key}
            else:
                assert body["action"] not in {*WS_FUNCTIONS, "ping"}


def test_stream_and_queue_sample_events(template: Template) -> None:
    fanout = json.loads((ROOT / "events" / "status_fanout.json").read_text())
    (record,) = fanout["Records"]
    assert record["eventName"] == "MODIFY" and record["eventSource"] == "aws:dynamodb"
    assert record["eventSourceARN"].startswith("arn:aws:dynamodb:us-east-1:")
    ddb = record["dynamodb"]
    assert ddb["Keys"] == {"userID": {"S": "alice"}}
    assert ddb["StreamViewType"] == "NEW_AND_OLD_IMAGES"
    for image in (ddb["NewImage"], ddb["OldImage"]):
        assert image["userID"] == {"S": "alice"}
        assert set(image["statusType"]) == {"N"} and set(image["customStatus"]) == {"S"}
    assert ddb["NewImage"]["customStatus"] != ddb["OldImage"]["customStatus"]

    timers = json.loads((ROOT / "events" / "status_timers.json").read_text())
    (message,) = timers["Records"]
    assert message["eventSource"] == "aws:sqs"
    body = json.loads(message["body"])
    assert body["kind"] == "tick" and body["userID"] == "alice" and isinstance(body["dueAt"], int)


def test_resolve_join(template: Template) -> None:
    value = {"Fn::Join": ["/", ["integrations", {"Ref": "X"}, {"Fn::Sub": "${AWS::Region}"}]]}
    assert resolve(template, value, {"X": "abc"}) == "integrations/abc/us-east-1"


def test_admin_functions_get_only_what_they_need(template: Template) -> None:
    settings, secret = table_arn("SettingsTable"), SECRET_ARN
    base = {("dynamodb:GetItem", settings), ("secretsmanager:GetSecretValue", secret)}
    friends = table_arn("FriendsTable")
    for logical_id in ("AdminImportFriendsFunction", "AdminDeleteFriendsFunction"):
        assert grants(template, logical_id) == base | {("dynamodb:BatchWriteItem", friends)}
    assert grants(template, "AdminQueryOnlineStatusFunction") == base | {
        ("dynamodb:BatchGetItem", table_arn("StatusTable"))
    }
    assert grants(template, "AdminKickUserFunction") == base | {
        ("dynamodb:GetItem", table_arn("StatusTable")),
        ("dynamodb:UpdateItem", table_arn("StatusTable")),
        ("execute-api:ManageConnections", WS_API_ARN),
    }
    # Tencent's REST routes need what the admin routes they mirror need, nothing more
    assert grants(template, "TencentQueryOnlineStatusFunction") == grants(
        template, "AdminQueryOnlineStatusFunction"
    )
    assert grants(template, "TencentKickFunction") == grants(template, "AdminKickUserFunction")


def test_alarms_watch_dead_letters_lag_errors_and_faults(template: Template) -> None:
    alarms = {
        logical_id: resource["Properties"]
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == "AWS::CloudWatch::Alarm"
    }
    watched = {
        (props["MetricName"], str(props["Dimensions"][0]["Value"])) for props in alarms.values()
    }
    for queue in (
        "TimersDeadLetterQueue",
        "DeliveryDeadLetterQueue",
        "FanoutFailureQueue",
        "StateChangeCallbackDeadLetterQueue",
    ):
        attribute = {"Fn::GetAtt": [queue, "QueueName"]}
        assert ("ApproximateNumberOfMessagesVisible", str(attribute)) in watched, queue
    for function in ("StatusFanoutFunction", "StatusDeliveryFunction", "StatusTimersFunction"):
        for metric in ("Errors", "Throttles"):
            assert (metric, str({"Ref": function})) in watched, (function, metric)
    assert ("IteratorAge", str({"Ref": "StatusFanoutFunction"})) in watched
    assert ("Errors", str({"Ref": "StateChangeCallbackFunction"})) in watched
    callbacks = str({"Fn::GetAtt": ["StateChangeCallbackQueue", "QueueName"]})
    assert ("ApproximateAgeOfOldestMessage", callbacks) in watched  # a callee refusing them
    assert ("5xx", str({"Ref": "HttpApi"})) in watched
    for props in alarms.values():
        # every alarm notifies the topic when one is given, and nobody otherwise
        assert props["AlarmActions"] == {
            "Fn::If": ["HasAlarmTopic", [{"Ref": "AlarmTopicArn"}], {"Ref": "AWS::NoValue"}]
        }
        assert props["TreatMissingData"] == "notBreaching"


def test_every_function_has_a_log_group_that_expires(template: Template) -> None:
    groups = {
        str(resource["Properties"]["LogGroupName"]): resource["Properties"]
        for resource in template["Resources"].values()
        if resource["Type"] == "AWS::Logs::LogGroup" and "LogGroupName" in resource["Properties"]
    }
    for logical_id in ALL_FUNCTIONS.values():
        name = str({"Fn::Sub": f"/aws/lambda/${{{logical_id}}}"})
        assert name in groups, logical_id
        assert groups[name]["RetentionInDays"] == {"Ref": "LogRetentionDays"}


def test_users_data_and_the_key_survive_a_stack_deletion(template: Template) -> None:
    resources = template["Resources"]
    for logical_id in ("StatusTable", "SubscriptionsTable", "FriendsTable", "SettingsTable"):
        assert resources[logical_id]["DeletionPolicy"] == "Retain", logical_id
        assert resources[logical_id]["UpdateReplacePolicy"] == "Retain", logical_id
        assert resources[logical_id]["Properties"]["DeletionProtectionEnabled"] is True
    assert resources["UserSigSecret"]["DeletionPolicy"] == "Retain"
