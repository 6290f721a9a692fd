"""The store package's rules (presence.store's docstring): only it imports boto3; every
operation is defined in one submodule, re-exported by the package and called through it, so a
patch of `store.<operation>` (local.harness, the tests, bench/cost.py) reaches every caller;
no module of the service is over 450 lines. Read from the source, no AWS."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from local.template import ROOT
from presence import store

PACKAGE = ROOT / "layers" / "presence" / "presence"
STORE = PACKAGE / "store"
MAX_LINES = 450


def service_modules() -> list[Path]:
    files = [*PACKAGE.rglob("*.py"), *(ROOT / "functions").rglob("*.py")]
    return sorted(f for f in files if "__pycache__" not in f.parts)


def imported_modules(tree: ast.AST) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def test_only_the_store_imports_boto3() -> None:
    outside = [
        str(path.relative_to(ROOT))
        for path in service_modules()
        if STORE not in path.parents
        and any(
            m.split(".")[0] in {"boto3", "botocore"}
            for m in imported_modules(ast.parse(path.read_text()))
        )
    ]
    assert outside == []


@pytest.mark.parametrize("path", service_modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_module_of_the_service_is_over_450_lines(path: Path) -> None:
    assert len(path.read_text().splitlines()) <= MAX_LINES


def test_every_operation_is_the_package_attribute_defined_in_one_submodule() -> None:
    for operation in store.OPERATIONS:
        name = operation.__name__
        assert getattr(store, name) is operation, name
        assert operation.__module__.startswith("presence.store."), name
        defined = [
            path.name
            for path in STORE.glob("*.py")
            if any(
                isinstance(node, ast.FunctionDef) and node.name == name
                for node in ast.parse(path.read_text()).body
            )
        ]
        assert len(defined) == 1, (name, defined)


def test_no_submodule_calls_an_operation_of_another() -> None:
    # a submodule that imported another's operation would call it past a patch of the package
    operations = {operation.__name__ for operation in store.OPERATIONS}
    found = []
    for path in sorted(STORE.glob("*.py")):
        if path.name == "__init__.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("presence"):
                found += [
                    f"{path.name}: {node.module}.{alias.name}"
                    for alias in node.names
                    if alias.name in operations or alias.name == "store"
                ]
            elif isinstance(node, ast.Import):
                found += [
                    f"{path.name}: {alias.name}"
                    for alias in node.names
                    if alias.name == "presence.store"
                ]
    assert found == []


def test_a_patch_of_the_package_reaches_callers_outside_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from presence import sessions

    posted: list[tuple[str, bytes]] = []

    def post(connection_id: str, data: bytes) -> bool:
        posted.append((connection_id, data))
        return True

    monkeypatch.setattr(store, "post_to_connection", post)
    monkeypatch.setattr(store, "close_connection", lambda c: None)
    monkeypatch.setattr(store, "sockets", lambda: None)
    monkeypatch.setattr(store, "poster", lambda: None)
    assert sessions._close(["c1"], sessions.REST_API_KICK) == ["c1"]
    assert posted == [("c1", b'{"event": "kickedOut", "reason": "REST_API_Kick"}')]


def test_every_client_is_reset_with_the_others() -> None:
    names = {client.__name__ for client in store.CLIENTS}
    assert names == {"dynamodb", "sqs", "scheduler", "events", "sockets", "_secrets", "poster"}
    for client in store.CLIENTS:
        assert getattr(store, client.__name__) is client
