"""Read template.yaml, the single source of truth, for tests and the local runtime.

Understands CloudFormation's short tags (``!Ref``, ``!GetAtt``, ``!Sub`` ...) and turns the
template's tables, HTTP routes and function environments into what boto3 and a local HTTP front
need. Only the intrinsics the template actually uses in those places are resolved.
"""

from __future__ import annotations

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


# -------------------------------------------------------------------------------- environment

_SUB_VARIABLE = re.compile(r"\$\{([^!}][^}]*)\}")


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
    """Resolve a scalar, ``Ref``, ``Fn::GetAtt`` ("Id.Attr" in refs) or ``Fn::Sub`` to a string."""
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
    raise ValueError(f"intrinsic {key} is not supported here")


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
