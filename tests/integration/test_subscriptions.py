"""subscribeUserStatus, unsubscribeUserStatus and getSubscriptions (API.md section 4)."""

from __future__ import annotations

from tests.integration.conftest import Api


def test_subscriptions_are_listed_oldest_first_in_request_order(api: Api) -> None:
    assert api.subscribe(["carol", "bob"]).data == {"failureUserList": []}
    assert api.subscribe(["dave", "anna"]).data == {"failureUserList": []}
    assert api.subscriptions() == ["carol", "bob", "dave", "anna"]


def test_subscribing_again_is_a_no_op_that_keeps_the_original_order(api: Api) -> None:
    api.subscribe(["bob", "carol"])
    assert api.subscribe(["bob"]).data == {"failureUserList": []}
    assert api.subscriptions() == ["bob", "carol"]


def test_duplicates_in_one_request_subscribe_once(api: Api) -> None:
    api.subscribe(["bob", "bob", "carol", "bob"])
    assert api.subscriptions() == ["bob", "carol"]


def test_own_and_invalid_user_ids_fail_per_entry_and_the_rest_succeed(api: Api) -> None:
    data = api.subscribe(["bob", "alice", "x" * 33, "carol"], user="alice").data
    assert [(f["userID"], f["code"]) for f in data["failureUserList"]] == [
        ("alice", 6017),
        ("x" * 33, 7003),
    ]
    assert "yourself" in data["failureUserList"][0]["message"]
    assert api.subscriptions() == ["bob", "carol"]


def test_subscriptions_belong_to_the_caller_only(api: Api) -> None:
    api.subscribe(["carol"], user="bob")
    assert api.subscriptions(user="alice") == []
    assert api.subscriptions(user="bob") == ["carol"]


def test_quota_evicts_the_oldest(api: Api, fresh_settings) -> None:  # type: ignore[no-untyped-def]
    api.update_settings({"subscriptionQuota": 3})
    fresh_settings()
    api.subscribe(["u1", "u2", "u3"])
    assert api.subscribe(["u4"]).data == {"failureUserList": []}
    assert api.subscriptions() == ["u2", "u3", "u4"]
    api.subscribe(["u5", "u6"])
    assert api.subscriptions() == ["u4", "u5", "u6"]


def test_more_new_users_than_the_quota_keeps_the_last_ones_of_the_request(
    api: Api,
    fresh_settings,  # type: ignore[no-untyped-def]
) -> None:
    api.update_settings({"subscriptionQuota": 2})
    fresh_settings()
    api.subscribe(["old"])
    api.subscribe(["n1", "n2", "n3"])
    assert api.subscriptions() == ["n2", "n3"]


def test_resubscribing_does_not_count_twice_against_the_quota(
    api: Api,
    fresh_settings,  # type: ignore[no-untyped-def]
) -> None:
    api.update_settings({"subscriptionQuota": 2})
    fresh_settings()
    api.subscribe(["u1", "u2"])
    api.subscribe(["u2", "u1"])
    assert api.subscriptions() == ["u1", "u2"]


def test_subscribe_list_limits(api: Api) -> None:
    assert api.subscribe([f"u{i}" for i in range(100)]).status == 200
    reply = api.subscribe([f"v{i}" for i in range(101)])
    assert (reply.status, reply.code) == (400, 6017)
    assert "userIDList" in reply.body["message"]
    reply = api.subscribe([])
    assert (reply.status, reply.code) == (400, 6017)


def test_unsubscribe_listed_users_only(api: Api) -> None:
    api.subscribe(["bob", "carol", "dave"])
    assert api.unsubscribe(["carol", "nobody"]).data == {"failureUserList": []}
    assert api.subscriptions() == ["bob", "dave"]


def test_unsubscribe_reports_invalid_user_ids(api: Api) -> None:
    api.subscribe(["bob"])
    data = api.unsubscribe(["bob", "bad\nid"]).data
    assert [(f["userID"], f["code"]) for f in data["failureUserList"]] == [("bad\nid", 7003)]
    assert api.subscriptions() == []


def test_unsubscribe_with_no_body_or_empty_list_cancels_everything(api: Api) -> None:
    api.subscribe(["bob", "carol"])
    assert api.unsubscribe().data == {"failureUserList": []}
    assert api.subscriptions() == []
    api.subscribe(["bob", "carol"])
    assert api.unsubscribe([]).data == {"failureUserList": []}
    assert api.subscriptions() == []
    api.subscribe(["bob"])
    assert api.call("unsubscribe_user_status", {}).data == {"failureUserList": []}
    assert api.subscriptions() == []


def test_unsubscribe_all_leaves_other_subscribers_alone(api: Api) -> None:
    api.subscribe(["carol"], user="alice")
    api.subscribe(["carol"], user="bob")
    api.unsubscribe(user="alice")
    assert api.subscriptions(user="bob") == ["carol"]


def test_unsubscribe_more_than_100_is_refused(api: Api) -> None:
    reply = api.unsubscribe([f"u{i}" for i in range(101)])
    assert (reply.status, reply.code) == (400, 6017)


def test_unsubscribe_list_of_wrong_type_is_refused(api: Api) -> None:
    reply = api.call("unsubscribe_user_status", {"userIDList": "bob"})
    assert (reply.status, reply.code) == (400, 6017)
    assert reply.body["message"].startswith("userIDList")


def test_many_subscriptions_page_through_and_stay_ordered(api: Api) -> None:
    for batch in range(2):
        api.subscribe([f"user-{batch}-{i:03d}" for i in range(100)])
    listed = api.subscriptions()
    assert listed == [f"user-{b}-{i:03d}" for b in range(2) for i in range(100)]
