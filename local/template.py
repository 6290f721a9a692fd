"""Read template.yaml, the single source of truth, for tests and the local runtime.

Understands CloudFormation's short tags (``!Ref``, ``!GetAtt``, ``!Sub`` ...) and turns the
template's tables, queues, HTTP and WebSocket routes, stream and queue consumers and function
environments into what boto3, a local HTTP/WebSocket front and a local poller need. Only the
intrinsics the template actually uses in those places are resolved.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE_PATH = ROOT / "template.yaml"

Template = dict[str, Any]

# Values of pseudo parameters when the caller's refs do not give them.
PSEUDO_DEFAULTS: dict[str, str] = {
    "AWS::Region": "us-east-1",
    "AWS::AccountId": "123456789012",
    "AWS::Partition": "aws",
    "AWS::URLSuffix": "amazonaws.com",
    "AWS::StackName": "presence",
}

# Short tags whose long form is the bare name, not "Fn::<name>".
_BARE_TAGS = {"Ref", "Condition"}

# A ``${Name}`` or ``${Name.Attr}`` variable of Fn::Sub (``${!Literal}`` is an escape, not one).
_SUB_VARIABLE = re.compile(r"\$\{([^!}][^}]*)\}")


class CfnLoader(yaml.SafeLoader):
    """A SafeLoader that turns CloudFormation short tags into their long-form dicts."""


def _construct_tag(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    key = tag_suffix if tag_suffix in _BARE_TAGS else f"Fn::{tag_suffix}"
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if tag_suffix == "GetAtt":
            value = str(value).split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    elif isinstance(node, yaml.MappingNode):
        value = loader.construct_mapping(node, deep=True)
    else:  # pragma: no cover - yaml has no other node kinds
        raise yaml.constructor.ConstructorError(None, None, f"unexpected node {node!r}")
    return {key: value}


CfnLoader.add_multi_constructor("!", _construct_tag)


def load_template(path: str | Path | None = None) -> Template:
    """Parse template.yaml (default: the one at the repository root) with short tags expanded."""
    text = Path(path or TEMPLATE_PATH).read_text(encoding="utf-8")
    data = yaml.load(text, Loader=CfnLoader)  # CfnLoader is a SafeLoader
    if not isinstance(data, dict):
        raise ValueError("template is not a mapping")
    return data


def _resources(template: Template, type_: str) -> dict[str, dict[str, Any]]:
    return {
        logical_id: resource
        for logical_id, resource in template.get("Resources", {}).items()
        if resource.get("Type") == type_
    }


# ------------------------------------------------------------------------------------- tables


@dataclass(frozen=True)
class TableSpec:
    """One AWS::DynamoDB::Table: boto3 ``create_table`` kwargs (no TableName) and its TTL."""

    logical_id: str
    create_kwargs: dict[str, Any]
    ttl_attribute: str | None


def _index(index: dict[str, Any]) -> dict[str, Any]:
    out = {k: index[k] for k in ("IndexName", "KeySchema", "Projection")}
    if "ProvisionedThroughput" in index:
        out["ProvisionedThroughput"] = index["ProvisionedThroughput"]
    return out


def table_specs(template: Template) -> dict[str, TableSpec]:
    """Every table of the template as boto3 ``create_table`` kwargs, by logical id."""
    specs: dict[str, TableSpec] = {}
    for logical_id, resource in _resources(template, "AWS::DynamoDB::Table").items():
        props = resource["Properties"]
        kwargs: dict[str, Any] = {
            "AttributeDefinitions": props["AttributeDefinitions"],
            "KeySchema": props["KeySchema"],
            "BillingMode": props.get("BillingMode", "PROVISIONED"),
        }
        if "ProvisionedThroughput" in props:
            kwargs["ProvisionedThroughput"] = props["ProvisionedThroughput"]
        if props.get("GlobalSecondaryIndexes"):
            kwargs["GlobalSecondaryIndexes"] = [_index(i) for i in props["GlobalSecondaryIndexes"]]
        if props.get("LocalSecondaryIndexes"):
            kwargs["LocalSecondaryIndexes"] = [_index(i) for i in props["LocalSecondaryIndexes"]]
        stream = props.get("StreamSpecification")
        if stream:
            kwargs["StreamSpecification"] = {
                "StreamEnabled": True,
                "StreamViewType": stream["StreamViewType"],
            }
        ttl = props.get("TimeToLiveSpecification") or {}
        ttl_attribute = ttl.get("AttributeName") if ttl.get("Enabled") else None
        specs[logical_id] = TableSpec(logical_id, kwargs, ttl_attribute)
    return specs


def create_tables(dynamodb: Any, template: Template, names: dict[str, str]) -> None:
    """Create every table with a boto3 DynamoDB client, named ``names[logical_id]``; enable TTL."""
    for logical_id, spec in table_specs(template).items():
        name = names[logical_id]
        dynamodb.create_table(TableName=name, **spec.create_kwargs)
        if spec.ttl_attribute:
            dynamodb.update_time_to_live(
                TableName=name,
                TimeToLiveSpecification={"Enabled": True, "AttributeName": spec.ttl_attribute},
            )


# ------------------------------------------------------------------------------------- routes


@dataclass(frozen=True)
class Route:
    """One HttpApi event: ``method`` and ``path`` served by ``function`` (a logical id)."""

    method: str
    path: str
    function: str
    code_dir: Path  # CodeUri relative to the repository root (join with ROOT)
    handler: str  # "module.function", e.g. "app.lambda_handler"


def _function_property(template: Template, props: dict[str, Any], name: str) -> Any:
    globals_ = template.get("Globals", {}).get("Function", {})
    return props.get(name, globals_.get(name))


def http_routes(template: Template) -> list[Route]:
    """Every HttpApi route of every function, in template order."""
    routes: list[Route] = []
    for logical_id, resource in _resources(template, "AWS::Serverless::Function").items():
        props = resource.get("Properties", {})
        for event in props.get("Events", {}).values():
            if event.get("Type") != "HttpApi":
                continue
            event_props = event.get("Properties", {})
            routes.append(
                Route(
                    method=str(event_props.get("Method", "ANY")).upper(),
                    path=str(event_props.get("Path", "$default")),
                    function=logical_id,
                    code_dir=Path(str(_function_property(template, props, "CodeUri"))),
                    handler=str(_function_property(template, props, "Handler")),
                )
            )
    return routes


def _references(value: Any) -> list[str]:
    """Logical ids (or parameter names) that ``value`` refers to, in order of appearance.

    ``Ref X``, ``Fn::GetAtt [X, Attr]`` and ``Fn::Sub`` variables ``${X}`` / ``${X.Attr}`` give X;
    ``${!Literal}`` escapes give nothing. Nested intrinsics are searched too.
    """
    found: list[str] = []
    if isinstance(value, list):
        for item in value:
            found += _references(item)
    elif isinstance(value, dict):
        for key, arg in value.items():
            if key == "Ref":
                found.append(str(arg))
            elif key == "Fn::GetAtt":
                found.append(str(arg[0]) if isinstance(arg, list) else str(arg).split(".")[0])
            elif key == "Fn::Sub":
                text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])
                for name in _SUB_VARIABLE.findall(text):
                    if name not in variables:
                        found.append(name.split(".", 1)[0])
                found += _references(variables)
            else:
                found += _references(arg)
    return found


def _referenced(template: Template, value: Any, type_: str) -> list[str]:
    """The logical ids of ``type_`` resources that ``value`` refers to."""
    resources = _resources(template, type_)
    return [name for name in _references(value) if name in resources]


def _function_code(template: Template, logical_id: str) -> tuple[Path, str]:
    props = template["Resources"][logical_id].get("Properties", {})
    return (
        Path(str(_function_property(template, props, "CodeUri"))),
        str(_function_property(template, props, "Handler")),
    )


@dataclass(frozen=True)
class WsRoute:
    """One route of the WebSocket API: ``route_key`` ("$connect", "ping"...) served by ``function``.

    ``two_way`` routes send the integration's response back to the client as a frame (the route
    has a RouteResponseSelectionExpression and a RouteResponse); other routes' replies are dropped
    (on $connect only the status code matters: non-2xx refuses the handshake).

    A route with no function is answered by API Gateway itself: a MOCK integration, or an AWS
    service integration (``service_action``, e.g. "dynamodb:UpdateItem", called with
    ``request_template`` rendered for the frame); ``response_template`` is what a two-way one
    answers (its integration response's $default template).
    """

    route_key: str
    function: str  # "" when API Gateway answers itself (MOCK or a service integration)
    code_dir: Path
    handler: str
    two_way: bool
    response_template: str | None = None
    service_action: str | None = None  # "<service>:<Action>" of an AWS service integration
    request_template: str | None = None  # its $default request template, resolved


_SERVICE_URI = re.compile(
    r"^arn:[^:]+:apigateway:[^:]*:(?P<service>[a-z0-9-]+):action/(?P<action>\w+)$"
)


def websocket_routes(template: Template, refs: dict[str, str] | None = None) -> list[WsRoute]:
    """Every route of the template's WebSocket API(s), in template order.

    Route -> Target ``integrations/<Integration>`` -> IntegrationUri
    ``arn:...:functions/${Function.Arn}/invocations`` -> the AWS::Serverless::Function; or a
    MOCK or AWS service integration. ``refs`` resolves templates that name resources (table
    names...); parameters take their defaults unless given there.
    """
    # (a resource not in refs stands for itself: enough to read the routes without a stack)
    refs = {**{name: name for name in template.get("Resources", {})}, **(refs or {})}
    websocket_apis = {
        logical_id
        for logical_id, api in _resources(template, "AWS::ApiGatewayV2::Api").items()
        if api.get("Properties", {}).get("ProtocolType") == "WEBSOCKET"
    }
    responded = {
        route_id
        for response in _resources(template, "AWS::ApiGatewayV2::RouteResponse").values()
        for route_id in _references(response.get("Properties", {}).get("RouteId"))
    }
    routes: list[WsRoute] = []
    for logical_id, resource in _resources(template, "AWS::ApiGatewayV2::Route").items():
        props = resource.get("Properties", {})
        if not set(_references(props.get("ApiId"))) & websocket_apis:
            continue
        integrations = _referenced(template, props.get("Target"), "AWS::ApiGatewayV2::Integration")
        if len(integrations) != 1:
            raise ValueError(f"{logical_id}: Target must name one integration")
        integration = template["Resources"][integrations[0]].get("Properties", {})
        two_way = bool(props.get("RouteResponseSelectionExpression")) and logical_id in responded
        kind = integration.get("IntegrationType")
        if kind in ("MOCK", "AWS"):
            service_action = request_template = None
            if kind == "AWS":
                uri = _SERVICE_URI.match(resolve(template, integration["IntegrationUri"], refs))
                if uri is None:
                    raise ValueError(f"{integrations[0]}: not a service action IntegrationUri")
                service_action = f"{uri['service']}:{uri['action']}"
                templates = integration.get("RequestTemplates") or {}
                request_template = resolve(template, templates["$default"], refs)
            routes.append(
                WsRoute(
                    route_key=str(props["RouteKey"]),
                    function="",
                    code_dir=Path(),
                    handler="",
                    two_way=two_way,
                    response_template=_response_template(template, integrations[0], refs),
                    service_action=service_action,
                    request_template=request_template,
                )
            )
            continue
        functions = _referenced(
            template, integration.get("IntegrationUri"), "AWS::Serverless::Function"
        )
        if len(functions) != 1:
            raise ValueError(f"{integrations[0]}: IntegrationUri must name one function")
        code_dir, handler = _function_code(template, functions[0])
        routes.append(
            WsRoute(
                route_key=str(props["RouteKey"]),
                function=functions[0],
                code_dir=code_dir,
                handler=handler,
                two_way=two_way,
            )
        )
    return routes


def allow_liveness_timeout(template: Template, seconds: int) -> None:
    """Let the local runtime use any liveness timeout (PRESENCE_LIVENESS_TIMEOUT_SECONDS), not
    only the stack parameter's allowed values: the Liveness mapping gets its heartbeat, worked
    out as the service announces it (presence.config.heartbeat_seconds)."""
    from presence.config import heartbeat_seconds

    mapping = template.setdefault("Mappings", {}).setdefault("Liveness", {})
    mapping.setdefault(str(seconds), {"HeartbeatSeconds": heartbeat_seconds(seconds)})


def _response_template(template: Template, integration_id: str, refs: dict[str, str]) -> str | None:
    """The $default response template of an integration's IntegrationResponse, resolved."""
    for resource in _resources(template, "AWS::ApiGatewayV2::IntegrationResponse").values():
        props = resource.get("Properties", {})
        if integration_id in _references(props.get("IntegrationId")):
            templates = props.get("ResponseTemplates") or {}
            value = templates.get("$default")
            return None if value is None else resolve(template, value, refs)
    return None


# ---------------------------------------------------------------------- stream/queue consumers


@dataclass(frozen=True)
class Consumer:
    """A function's DynamoDB stream or SQS event source.

    ``source`` is the logical id of the table (whose stream is read) or of the queue.
    ``on_failure`` is the logical id of the stream's on-failure destination, if any.
    """

    function: str
    code_dir: Path
    handler: str
    event: str  # the event's name under the function's Events
    source: str
    batch_size: int
    function_response_types: tuple[str, ...]
    on_failure: str | None = None
    # Stream sources only (Lambda's defaults when absent: retry until the record expires).
    starting_position: str | None = None
    maximum_retry_attempts: int | None = None  # None: retry until the record expires
    maximum_record_age_seconds: int | None = None  # None: records never expire
    bisect_batch_on_function_error: bool = False
    # SQS sources only: ScalingConfig.MaximumConcurrency (None: Lambda scales up on its own).
    maximum_concurrency: int | None = None


# Lambda's defaults when an event source omits BatchSize.
_DEFAULT_BATCH_SIZE = {"DynamoDB": 100, "SQS": 10}


def _optional_str(value: Any) -> str | None:
    return None if value is None else str(value)


def _optional_limit(value: Any) -> int | None:
    """A retry or age limit; Lambda's -1 (and absence) mean "no limit"."""
    if value is None or int(value) < 0:
        return None
    return int(value)


def _consumers(template: Template, event_type: str, source_property: str) -> list[Consumer]:
    consumers: list[Consumer] = []
    for logical_id, resource in _resources(template, "AWS::Serverless::Function").items():
        for event_name, event in resource.get("Properties", {}).get("Events", {}).items():
            if event.get("Type") != event_type:
                continue
            props = event.get("Properties", {})
            sources = _references(props.get(source_property))
            if len(sources) != 1:
                raise ValueError(f"{logical_id}.{event_name}: {source_property} must name one id")
            on_failure = _references(
                (props.get("DestinationConfig") or {}).get("OnFailure", {}).get("Destination")
            )
            code_dir, handler = _function_code(template, logical_id)
            consumers.append(
                Consumer(
                    function=logical_id,
                    code_dir=code_dir,
                    handler=handler,
                    event=event_name,
                    source=sources[0],
                    batch_size=int(props.get("BatchSize", _DEFAULT_BATCH_SIZE[event_type])),
                    function_response_types=tuple(props.get("FunctionResponseTypes", ())),
                    on_failure=on_failure[0] if on_failure else None,
                    starting_position=_optional_str(props.get("StartingPosition")),
                    maximum_retry_attempts=_optional_limit(props.get("MaximumRetryAttempts")),
                    maximum_record_age_seconds=_optional_limit(
                        props.get("MaximumRecordAgeInSeconds")
                    ),
                    bisect_batch_on_function_error=bool(
                        props.get("BisectBatchOnFunctionError", False)
                    ),
                    maximum_concurrency=_optional_limit(
                        (props.get("ScalingConfig") or {}).get("MaximumConcurrency")
                    ),
                )
            )
    return consumers


def stream_consumers(template: Template) -> list[Consumer]:
    """Every DynamoDB stream event source (``source`` is the table's logical id)."""
    return _consumers(template, "DynamoDB", "Stream")


def queue_consumers(template: Template) -> list[Consumer]:
    """Every SQS event source (``source`` is the queue's logical id)."""
    return _consumers(template, "SQS", "Queue")


# -------------------------------------------------------------------------------------- queues

# AWS::SQS::Queue properties that are create_queue Attributes of the same name.
_QUEUE_ATTRIBUTES = (
    "DelaySeconds",
    "MaximumMessageSize",
    "MessageRetentionPeriod",
    "ReceiveMessageWaitTimeSeconds",
    "VisibilityTimeout",
    "SqsManagedSseEnabled",
    "FifoQueue",
    "ContentBasedDeduplication",
    "DeduplicationScope",
    "FifoThroughputLimit",
)


@dataclass(frozen=True)
class QueueSpec:
    """One AWS::SQS::Queue: boto3 ``create_queue`` Attributes (no QueueName, no RedrivePolicy)
    and its dead-letter queue (a logical id) with ``maxReceiveCount``, if it has one."""

    logical_id: str
    attributes: dict[str, str]
    dead_letter_queue: str | None
    max_receive_count: int | None


def queue_specs(template: Template) -> dict[str, QueueSpec]:
    """Every queue of the template, by logical id."""
    specs: dict[str, QueueSpec] = {}
    for logical_id, resource in _resources(template, "AWS::SQS::Queue").items():
        props = resource.get("Properties", {})
        attributes = {k: _scalar(props[k]) for k in _QUEUE_ATTRIBUTES if k in props}
        redrive = props.get("RedrivePolicy") or {}
        targets = _references(redrive.get("deadLetterTargetArn"))
        specs[logical_id] = QueueSpec(
            logical_id=logical_id,
            attributes=attributes,
            dead_letter_queue=targets[0] if targets else None,
            max_receive_count=int(redrive["maxReceiveCount"]) if targets else None,
        )
    return specs


def create_queues(sqs: Any, template: Template, names: dict[str, str]) -> dict[str, str]:
    """Create every queue with a boto3 SQS client, named ``names[logical_id]``, dead-letter queues
    first so that redrive policies point at them. Returns each queue's URL by logical id."""
    specs = queue_specs(template)
    urls: dict[str, str] = {}

    def create(logical_id: str, seen: tuple[str, ...] = ()) -> str:
        if logical_id in urls:
            return urls[logical_id]
        if logical_id in seen:
            raise ValueError(f"redrive cycle through {logical_id}")
        spec = specs[logical_id]
        attributes = dict(spec.attributes)
        if spec.dead_letter_queue:
            dlq_url = create(spec.dead_letter_queue, (*seen, logical_id))
            dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])[
                "Attributes"
            ]["QueueArn"]
            attributes["RedrivePolicy"] = json.dumps(
                {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": spec.max_receive_count}
            )
        name = names[logical_id]
        if attributes.get("FifoQueue") == "true" and not name.endswith(".fifo"):
            name += ".fifo"  # SQS requires it of a FIFO queue's name
        urls[logical_id] = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        return urls[logical_id]

    for logical_id in specs:
        create(logical_id)
    return urls


# -------------------------------------------------------------------------------- environment


def _lookup(template: Template, name: str, refs: dict[str, str]) -> str:
    if name in refs:
        return refs[name]
    parameter = template.get("Parameters", {}).get(name)
    if parameter is not None and "Default" in parameter:
        return _scalar(parameter["Default"])
    if name in PSEUDO_DEFAULTS:
        return PSEUDO_DEFAULTS[name]
    raise KeyError(f"no value for {name!r}: pass it in refs")


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | str):
        return str(value)
    raise ValueError(f"unresolved value {value!r}")


def resolve(template: Template, value: Any, refs: dict[str, str]) -> str:
    """Resolve a scalar, ``Ref``, ``Fn::GetAtt`` ("Id.Attr" in refs), ``Fn::Sub``,
    ``Fn::FindInMap``, ``Fn::Join`` or ``Fn::If`` (of a condition of the template:
    ``condition``) to a string.
    Pseudo parameters (``AWS::Region``...) default to PSEUDO_DEFAULTS unless in refs.
    """
    if not isinstance(value, dict):
        return _scalar(value)
    if len(value) != 1:
        raise ValueError(f"unresolved value {value!r}")
    ((key, arg),) = value.items()
    if key == "Ref":
        return _lookup(template, str(arg), refs)
    if key == "Fn::GetAtt":
        return _lookup(template, ".".join(arg), refs)
    if key == "Fn::Sub":
        text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])

        def substitute(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in variables:
                return resolve(template, variables[name], refs)
            return _lookup(template, name, refs)

        return _SUB_VARIABLE.sub(substitute, text).replace("${!", "${")
    if key == "Fn::FindInMap":
        mapping, top, second = (resolve(template, item, refs) for item in arg)
        return _scalar(template["Mappings"][mapping][top][second])
    if key == "Fn::Join":
        delimiter, items = arg
        return str(delimiter).join(resolve(template, item, refs) for item in items)
    if key == "Fn::If":
        name, when_true, when_false = arg
        # only the branch taken is resolved (the other may name a resource that is not there)
        return resolve(template, when_true if condition(template, name, refs) else when_false, refs)
    raise ValueError(f"intrinsic {key} is not supported here")


def condition(template: Template, name: str, refs: dict[str, str]) -> bool:
    """Whether the template's condition `name` holds, parameters taken from refs or their
    defaults (``Fn::Equals``, ``Fn::Not``, ``Fn::And``, ``Fn::Or``, ``Condition``)."""
    conditions = template.get("Conditions", {})
    if name not in conditions:
        raise KeyError(f"no condition {name!r} in the template")
    return _holds(template, conditions[name], refs)


def _holds(template: Template, value: Any, refs: dict[str, str]) -> bool:
    if not isinstance(value, dict) or len(value) != 1:
        raise ValueError(f"not a condition: {value!r}")
    ((key, arg),) = value.items()
    if key == "Fn::Equals":
        first, second = (resolve(template, item, refs) for item in arg)
        return first == second
    if key == "Fn::Not":
        return not _holds(template, arg[0], refs)
    if key == "Fn::And":
        return all(_holds(template, item, refs) for item in arg)
    if key == "Fn::Or":
        return any(_holds(template, item, refs) for item in arg)
    if key == "Condition":
        return condition(template, str(arg), refs)
    raise ValueError(f"condition function {key} is not supported here")


def function_environment(
    template: Template, logical_id: str, refs: dict[str, str]
) -> dict[str, str]:
    """The function's environment: Globals' variables overlaid by its own, fully resolved.

    ``refs`` maps logical ids and parameter names to values (table names, the secret's ARN...);
    parameters missing from it take their Default.
    """
    resource = template["Resources"][logical_id]
    if resource.get("Type") != "AWS::Serverless::Function":
        raise KeyError(f"{logical_id} is not an AWS::Serverless::Function")
    globals_ = template.get("Globals", {}).get("Function", {})
    variables: dict[str, Any] = {
        **(globals_.get("Environment") or {}).get("Variables", {}),
        **(resource.get("Properties", {}).get("Environment") or {}).get("Variables", {}),
    }
    return {name: resolve(template, value, refs) for name, value in variables.items()}
