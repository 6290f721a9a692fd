"""The HTTP API's OpenAPI 3.1 document, built from template.yaml's routes and the handlers' own
request-body models, so it cannot drift from the code: `python -m local.openapi` writes
docs/openapi.json, and tests/unit/test_openapi.py fails when the committed file differs.

Response shapes (the `data` of each route) follow API.md sections 4 and 5; the envelope, the
error codes and their HTTP statuses come from presence.errors. Tencent's REST routes (API.md
section 10, handlers marked `tencent_rest`) have Tencent's conventions instead: the admin's
UserSig in the query string, every answer HTTP 200 with `ActionStatus` OK or FAIL.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from local import template as cfn
from local.harness import handler_module

DOC_PATH = cfn.ROOT / "docs" / "openapi.json"

STATUS = {
    "type": "object",
    "required": [
        "userID",
        "statusType",
        "customStatus",
        "lastActiveTime",
        "version",
        "customStatusExpiresAt",
    ],
    "properties": {
        "userID": {"type": "string"},
        "statusType": {
            "type": "integer",
            "enum": [0, 1, 2, 3],
            "description": "0 UNKNOWN, 1 ONLINE, 2 OFFLINE, 3 UNLOGINED",
        },
        "customStatus": {"type": "string"},
        "lastActiveTime": {
            "type": "integer",
            "description": "epoch ms the latest ONLINE period ended; 0 while ONLINE or never",
        },
        "version": {"type": "integer", "description": "grows with every change; 0: none"},
        "customStatusExpiresAt": {
            "type": "integer",
            "description": "epoch ms the custom status clears itself; 0: no expiry",
        },
        "invisible": {
            "type": "boolean",
            "enum": [True],
            "description": "only about oneself (and to the admin), while appearing offline",
        },
    },
}
FAILURE = {
    "type": "object",
    "required": ["userID", "code", "message"],
    "properties": {
        "userID": {"type": "string"},
        "code": {"type": "integer"},
        "message": {"type": "string"},
    },
}
FAILURES = {"type": "array", "items": {"$ref": "#/components/schemas/Failure"}}
STATUSES = {
    "type": "object",
    "required": ["successUserList", "failureUserList"],
    "properties": {
        "successUserList": {"type": "array", "items": {"$ref": "#/components/schemas/Status"}},
        "failureUserList": FAILURES,
    },
}
FAILURE_LIST = {
    "type": "object",
    "required": ["failureUserList"],
    "properties": {"failureUserList": FAILURES},
}
PAIR_FAILURES = {
    "type": "object",
    "required": ["failureList"],
    "properties": {"failureList": {"type": "array", "items": {"type": "object"}}},
}
# what each route answers in `data`, by function folder
DATA: dict[str, dict[str, Any]] = {
    "set_self_status": {"$ref": "#/components/schemas/Status"},
    "get_user_status": STATUSES,
    "subscribe_user_status": FAILURE_LIST,
    "unsubscribe_user_status": FAILURE_LIST,
    "get_subscriptions": {
        "type": "object",
        "required": ["userIDList"],
        "properties": {"userIDList": {"type": "array", "items": {"type": "string"}}},
    },
    "admin_get_settings": {"type": "object", "description": "the settings (API.md section 5)"},
    "admin_update_settings": {"type": "object", "description": "the settings after the update"},
    "admin_import_friends": PAIR_FAILURES,
    "admin_delete_friends": PAIR_FAILURES,
    "admin_query_online_status": STATUSES,
    "admin_kick_user": {"type": "object"},
}
# Tencent's REST routes (API.md section 10): the fields each adds to a successful answer
TENCENT_STATE = {
    "type": "string",
    "enum": ["Online", "PushOnline", "Offline"],
    "description": "Online (ONLINE), PushOnline (OFFLINE: logged in, app in background),"
    " Offline (UNLOGINED)",
}
TENCENT_DATA: dict[str, dict[str, Any]] = {
    "tencent_query_online_status": {
        "QueryResult": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["To_Account", "State", "Status"],
                "properties": {
                    "To_Account": {"type": "string"},
                    "State": TENCENT_STATE,
                    "Status": TENCENT_STATE,
                    "Detail": {
                        "type": "array",
                        "description": "with IsNeedDetail 1: one per live or background device",
                        "items": {
                            "type": "object",
                            "required": ["Platform", "Status"],
                            "properties": {
                                "Platform": {
                                    "type": "string",
                                    "enum": [
                                        "Web",
                                        "MiniProgram",
                                        "IPhone",
                                        "IPad",
                                        "Android",
                                        "Windows",
                                        "Mac",
                                        "Linux",
                                        "Harmony",
                                    ],
                                },
                                "Status": {"type": "string", "enum": ["Online", "PushOnline"]},
                            },
                        },
                    },
                    "CustomStatus": {
                        "type": "string",
                        "description": "with IsReturnCustomStatus 1",
                    },
                },
            },
        },
        "ErrorList": {
            "type": "array",
            "description": "invalid userIDs, ErrorCode 70107",
            "items": {
                "type": "object",
                "required": ["To_Account", "ErrorCode"],
                "properties": {"To_Account": {"type": "string"}, "ErrorCode": {"const": 70107}},
            },
        },
    },
    "tencent_kick": {},
}
TENCENT_QUERY = [
    ("sdkappid", True, {"type": "integer"}, "the deployment's SDKAppID (70014 if another)"),
    ("identifier", True, {"type": "string"}, "the admin account (must be the UserSig's: 70013)"),
    ("usersig", True, {"type": "string"}, "the admin account's UserSig (TLSSigAPIv2)"),
    ("random", False, {"type": "integer", "minimum": 0, "maximum": 4294967295}, "any uint32"),
    ("contenttype", False, {"type": "string", "enum": ["json"]}, "always json"),
]

# the contract's failures a route can answer, beyond auth (401) and a malformed body (400)
ERRORS = {
    "400": "the body is not a JSON object (6027) or a parameter is invalid (6017)",
    "401": "the UserSig is missing, malformed, expired, of another key, user or SDKAppID",
    "403": "not the admin (60010), the plan (7013) or the switch (72001) forbids it",
    "429": "rate limit (7008)",
    "500": "unexpected server fault (7012)",
}


def build() -> dict[str, Any]:
    template = cfn.load_template()
    paths: dict[str, Any] = {}
    shared: dict[str, Any] = {}  # the bodies' nested models, as components
    for route in sorted(cfn.http_routes(template), key=lambda r: r.path):
        module = handler_module(route.code_dir.name)
        handler = getattr(module, route.handler.rpartition(".")[2])
        model = handler.body_model
        body = model.model_json_schema(ref_template="#/components/schemas/{model}")
        shared.update(body.pop("$defs", {}))
        name = route.code_dir.name
        operation_id = route.path.rsplit("/", 1)[-1]
        if getattr(handler, "tencent_rest", False):
            paths[route.path] = {route.method.lower(): tencent_operation(module, name, body)}
            continue
        paths[route.path] = {
            route.method.lower(): {
                "operationId": ("admin." if handler.admin_only else "") + operation_id,
                "summary": (module.__doc__ or "").strip().splitlines()[0],
                "security": [{"userSig": []}],
                "parameters": [
                    {
                        "name": "X-User-ID",
                        "in": "header",
                        "required": False,
                        "description": "when given, must equal the UserSig's identifier (70013)",
                        "schema": {"type": "string"},
                    }
                ],
                "requestBody": {
                    "required": False,
                    "content": {"application/json": {"schema": body}},
                },
                "responses": {
                    "200": {
                        "description": "success",
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["code", "message", "data"],
                                    "properties": {
                                        "code": {"const": 0},
                                        "message": {"const": ""},
                                        "data": DATA[name],
                                    },
                                }
                            }
                        },
                    },
                    **{
                        status: {
                            "description": text,
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/Error"}
                                }
                            },
                        }
                        for status, text in ERRORS.items()
                    },
                },
            }
        }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Presence (user status) HTTP API",
            "version": "1.2",
            "description": "Generated from template.yaml and the handlers (local/openapi.py);"
            " the wire contract is API.md.",
        },
        "servers": [{"url": "http://127.0.0.1:3000", "description": "make run"}],
        "components": {
            "securitySchemes": {
                "userSig": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "UserSig (TLSSigAPIv2)",
                }
            },
            "schemas": {
                **dict(sorted(shared.items())),
                "Status": STATUS,
                "Failure": FAILURE,
                "Error": {
                    "type": "object",
                    "required": ["code", "message"],
                    "properties": {"code": {"type": "integer"}, "message": {"type": "string"}},
                },
                "TencentAnswer": {
                    "type": "object",
                    "required": ["ActionStatus", "ErrorCode", "ErrorInfo"],
                    "properties": {
                        "ActionStatus": {"type": "string", "enum": ["OK", "FAIL"]},
                        "ErrorCode": {
                            "type": "integer",
                            "description": "0, or the contract's code (API.md sections 1-2)",
                        },
                        "ErrorInfo": {"type": "string"},
                    },
                },
            },
        },
        "paths": paths,
    }


def tencent_operation(module: Any, name: str, body: dict[str, Any]) -> dict[str, Any]:
    """A Tencent REST route: auth in the query string, every answer HTTP 200."""
    return {
        "operationId": "tencent." + name.removeprefix("tencent_"),
        "summary": (module.__doc__ or "").strip().splitlines()[0],
        "security": [],
        "parameters": [
            {
                "name": param,
                "in": "query",
                "required": required,
                "description": text,
                "schema": schema,
            }
            for param, required, schema, text in TENCENT_QUERY
        ],
        "requestBody": {"required": False, "content": {"application/json": {"schema": body}}},
        "responses": {
            "200": {
                "description": "every answer, success (ActionStatus OK) or failure (FAIL,"
                " ErrorCode the contract's code); as Tencent's REST API",
                "content": {
                    "application/json": {
                        "schema": {
                            "allOf": [{"$ref": "#/components/schemas/TencentAnswer"}],
                            "type": "object",
                            "properties": TENCENT_DATA[name],
                        }
                    }
                },
            }
        },
    }


def render() -> str:
    return json.dumps(build(), indent=2, sort_keys=False) + "\n"


def main() -> int:
    DOC_PATH.write_text(render())
    print(f"wrote {DOC_PATH.relative_to(cfn.ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
