"""docs/operations.md's accepted checkov findings, as `make checkov` (local/checkov_accepted.py)
reads them; checkov itself runs only in `make checkov`."""

from __future__ import annotations

import fnmatch

import pytest

from local.checkov_accepted import HEADING, Accepted, accepted_findings, failed_findings
from local.template import ROOT, load_template

OPERATIONS = ROOT / "docs" / "operations.md"


def test_every_accepted_row_names_resources_of_the_template() -> None:
    rows = accepted_findings(OPERATIONS.read_text(encoding="utf-8"))
    assert len({row.check_id for row in rows}) == len(rows), "one row per check"
    logical_ids = set(load_template()["Resources"])
    for row in rows:
        for pattern in row.patterns:
            assert fnmatch.filter(logical_ids, pattern), (row.check_id, pattern)


def test_the_table_is_read_from_its_section_only() -> None:
    markdown = (
        "# Operations\n\n| check | resources | why |\n|---|---|---|\n"
        "| `CKV_AWS_1` | `Elsewhere` | not this table |\n\n"
        f"{HEADING}\n\nIntro.\n\n| check | resources | why accepted |\n|---|---|---|\n"
        "| `CKV_AWS_115` concurrency | `*Function` | reasons |\n"
        "| `CKV2_AWS_5` two | `A`, `B*` | more |\n\n## Next\n\n| `CKV_AWS_2` | `After` | no |\n"
    )
    assert accepted_findings(markdown) == [
        Accepted("CKV_AWS_115", ("*Function",)),
        Accepted("CKV2_AWS_5", ("A", "B*")),
    ]
    with pytest.raises(ValueError, match="no resources"):
        accepted_findings(f"{HEADING}\n\n| `CKV_AWS_3` | all of them | why |\n")


def test_findings_match_by_check_and_logical_id() -> None:
    report = {
        "results": {
            "failed_checks": [
                {
                    "check_id": "CKV_AWS_115",
                    "resource": "AWS::Serverless::Function.SetSelfStatusFunction",
                },
                {"check_id": "CKV_AWS_28", "resource": "AWS::DynamoDB::Table.StatusTable"},
            ]
        }
    }
    failed = failed_findings(report)
    assert failed == [("CKV_AWS_115", "SetSelfStatusFunction"), ("CKV_AWS_28", "StatusTable")]
    row = Accepted("CKV_AWS_28", ("RateLimitsTable", "ConnectionsTable"))
    assert not row.matches(*failed[1])  # point-in-time recovery stays required on user data
    assert Accepted("CKV_AWS_115", ("*Function",)).matches(*failed[0])
    assert not Accepted("CKV_AWS_116", ("*Function",)).matches(*failed[0])
