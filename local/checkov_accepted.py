"""`make checkov`: checkov on template.yaml, failing on every finding that docs/operations.md's
"Accepted checkov findings" table does not list, and on every row of it that no longer matches
a finding (so the list stays exactly what is accepted).

    python -m local.checkov_accepted --checkov .venv-checkov/bin/checkov

Each row of the table names one check id (first cell) and the resources it is accepted for
(second cell: logical ids in backticks, where `*` matches any characters, e.g. `*Function`).
Standard library only: it runs with the checkov venv's Python.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
HEADING = "## Accepted checkov findings"
CHECK_ID = re.compile(r"\bCKV2?_[A-Z]+_\d+\b")


@dataclass(frozen=True)
class Accepted:
    check_id: str
    patterns: tuple[str, ...]

    def matches(self, check_id: str, logical_id: str) -> bool:
        return check_id == self.check_id and any(
            fnmatch.fnmatchcase(logical_id, pattern) for pattern in self.patterns
        )


def accepted_findings(markdown: str) -> list[Accepted]:
    """The rows of the table under HEADING (up to the next heading of its level or higher)."""
    start = markdown.index(HEADING) + len(HEADING)
    end = re.compile(r"^#{1,2} ", re.MULTILINE).search(markdown, start)
    section = markdown[start : end.start() if end else len(markdown)]
    rows: list[Accepted] = []
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if not line.lstrip().startswith("|") or len(cells) < 3:
            continue
        check = CHECK_ID.search(cells[0])
        if not check:
            continue  # the header row and its separator
        patterns = tuple(re.findall(r"`([^`]+)`", cells[1]))
        if not patterns:
            raise ValueError(f"{check.group()}: no resources (in backticks) in {line!r}")
        rows.append(Accepted(check.group(), patterns))
    if not rows:
        raise ValueError(f"no rows under {HEADING!r}")
    return rows


def failed_findings(report: dict[str, Any]) -> list[tuple[str, str]]:
    """(check id, logical id) of every failed check in checkov's JSON report."""
    failed = report.get("results", {}).get("failed_checks", [])
    # resource: "AWS::Serverless::Function.SetSelfStatusFunction"
    return sorted({(f["check_id"], f["resource"].rsplit(".", 1)[-1]) for f in failed})


def run_checkov(checkov: str, template: Path) -> dict[str, Any]:
    # --skip-download: no network (nothing fetched from Bridgecrew/Prisma); JSON on stdout.
    command = [checkov, "--file", str(template), "--framework", "cloudformation"]
    command += ["--skip-download", "--quiet", "--compact", "--output", "json"]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode not in (0, 1):  # 1: some check failed; anything else: checkov broke
        sys.stderr.write(done.stderr)
        raise SystemExit(f"checkov exited {done.returncode}")
    report = json.loads(done.stdout)
    if isinstance(report, list):  # one report per framework
        (report,) = report
    if not isinstance(report, dict):
        raise SystemExit("checkov printed no report")
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkov", default="checkov", help="the checkov executable")
    parser.add_argument("--template", type=Path, default=ROOT / "template.yaml")
    parser.add_argument("--accepted", type=Path, default=ROOT / "docs" / "operations.md")
    args = parser.parse_args(argv)

    accepted = accepted_findings(args.accepted.read_text(encoding="utf-8"))
    report = run_checkov(args.checkov, args.template)
    failed = failed_findings(report)
    new = [(c, r) for c, r in failed if not any(a.matches(c, r) for a in accepted)]
    stale = [
        (a.check_id, pattern)
        for a in accepted
        for pattern in a.patterns
        if not any(Accepted(a.check_id, (pattern,)).matches(c, r) for c, r in failed)
    ]
    for check_id, logical_id in new:
        print(f"FAILED, not accepted: {check_id} {logical_id}")
    for check_id, pattern in stale:
        print(f"accepted, but no longer failing (take it off the list): {check_id} `{pattern}`")
    version = report.get("summary", {}).get("checkov_version", "?")
    if new or stale:
        print(f"checkov {version}: {len(new)} findings not accepted, {len(stale)} entries stale")
        return 1
    print(f"checkov {version}: {len(failed)} findings, each accepted in {args.accepted.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
