"""Tencent's REST API through the local runtime, as a backend written for Tencent Cloud IM calls
it with only its base URL changed (API.md section 10): query_online_status and kick, their
success and failure answers (every one HTTP 200)."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from typing import Any

import pytest

from tests.e2e.conftest import (
    ADMIN,
    SDKAPPID,
    UNLOGINED,
    Http,
    Sockets,
    expired_sig,
    user_sig,
)

QUERY = "/v4/openim/query_online_status"
KICK = "/v4/im_open_login_svc/kick"


def tencent(
    http: Http,
    path: str,
    body: Any,
    *,
    identifier: str = ADMIN,
    usersig: str | None = None,
    content: str | None = None,
    **query: str,
) -> dict[str, Any]:
    """A call the way Tencent's server SDKs make one: POST, the admin's UserSig and the rest of
    Tencent's parameters in the query string, a JSON body. Returns the body of the HTTP 200."""
    params = {
        "sdkappid": str(SDKAPPID),
        "identifier": identifier,
        "usersig": usersig if usersig is not None else user_sig(identifier),
        "random": str(random.randrange(2**32)),
        "contenttype": "json",
        **query,
    }
    response = http.client.post(
        path,
        params=params,
        content=content if content is not None else json.dumps(body),
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    return dict(response.json())


def failure(answer: dict[str, Any]) -> tuple[str, int]:
    assert answer["ErrorInfo"], answer
    return answer["ActionStatus"], answer["ErrorCode"]


def test_query_online_status_answers_tencents_shape(
    http: Http, sockets: Sockets, uid: Callable[[str], str]
) -> None:
    alice, bob = uid("alice"), uid("bob")
    sockets.open(alice, "web")
    watcher = sockets.open(alice, "android")
    http.set_self_status(alice, "in a call")
    watcher.wait_status(alice, custom_status="in a call")
    answer = tencent(
        http,
        QUERY,
        {"To_Account": [alice, bob, "bad\nid"], "IsNeedDetail": 1, "IsReturnCustomStatus": 1},
    )
    assert answer == {
        "ActionStatus": "OK",
        "ErrorCode": 0,
        "ErrorInfo": "",
        "QueryResult": [
            {
                "To_Account": alice,
                "State": "Online",
                "Status": "Online",
                "Detail": [
                    {"Platform": "Web", "Status": "Online"},
                    {"Platform": "Android", "Status": "Online"},
                ],
                "CustomStatus": "in a call",
            },
            {
                "To_Account": bob,
                "State": "Offline",
                "Status": "Offline",
                "Detail": [],
                "CustomStatus": "",
            },
        ],
        "ErrorList": [{"To_Account": "bad\nid", "ErrorCode": 70107}],
    }
    plain = tencent(http, QUERY, {"To_Account": [bob]})
    assert plain["QueryResult"] == [{"To_Account": bob, "State": "Offline", "Status": "Offline"}]


@pytest.mark.parametrize("path", [QUERY, KICK])
def test_failures_answer_http_200_fail_with_the_contracts_codes(
    http: Http, path: str, uid: Callable[[str], str]
) -> None:
    body = {"To_Account": ["bob"]} if path == QUERY else {"UserID": "bob"}
    assert failure(tencent(http, path, body, usersig="garbage")) == ("FAIL", 70003)
    assert failure(tencent(http, path, body, usersig=expired_sig(ADMIN))) == ("FAIL", 70001)
    wrong_key = user_sig(ADMIN, key="another-key")
    assert failure(tencent(http, path, body, usersig=wrong_key)) == ("FAIL", 70009)
    other_app = user_sig(ADMIN, sdkappid=SDKAPPID + 1)
    assert failure(tencent(http, path, body, usersig=other_app)) == ("FAIL", 70014)
    assert failure(tencent(http, path, body, sdkappid=str(SDKAPPID + 1))) == ("FAIL", 70014)
    mismatch = tencent(http, path, body, usersig=user_sig(ADMIN), identifier="someone")
    assert failure(mismatch) == ("FAIL", 70013)
    assert failure(tencent(http, path, body, identifier=uid("mallory"))) == ("FAIL", 60010)
    assert failure(tencent(http, path, body, content="not json")) == ("FAIL", 6027)
    assert failure(tencent(http, path, {})) == ("FAIL", 6017)
    assert failure(tencent(http, path, body, contenttype="xml")) == ("FAIL", 6017)


def test_kick_closes_every_socket_and_logs_the_user_out(
    http: Http, sockets: Sockets, uid: Callable[[str], str]
) -> None:
    alice = uid("alice")
    web, phone = sockets.open(alice, "web"), sockets.open(alice, "ios")
    assert tencent(http, KICK, {"UserID": alice}) == {
        "ActionStatus": "OK",
        "ErrorCode": 0,
        "ErrorInfo": "",
    }
    for socket_ in (web, phone):
        socket_.wait_for(lambda f: f == {"event": "kickedOut", "reason": "REST_API_Kick"})
        assert socket_.closed_by_server()
    assert http.status_of(alice)[0] == UNLOGINED
    answer = tencent(http, QUERY, {"To_Account": [alice], "IsNeedDetail": 1})
    assert answer["QueryResult"][0]["Detail"] == []
    assert failure(tencent(http, KICK, {"UserID": ""})) == ("FAIL", 6017)
