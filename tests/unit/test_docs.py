"""The documentation stands on its own in a clone: every relative link of every Markdown file
points at a file of the repository (and at a heading that exists, when it names one), and
docs/API.md is the team's shared API.md (checked when the shared folder is beside the
repository)."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

from local.template import ROOT

SHARED_API = ROOT.parent / "shared" / "API.md"
SKIPPED_DIRS = {"node_modules"}  # and every folder whose name starts with "." (.venv, .git, ...)

FENCE = re.compile(r"^\s*(```|~~~)")
INLINE_CODE = re.compile(r"(`+)(?!`).*?(?<!`)\1(?!`)")
INLINE_LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE_DEFINITION = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s.*)?$")
HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


def markdown_files() -> list[Path]:
    found = []
    for path in ROOT.rglob("*.md"):
        parts = path.relative_to(ROOT).parts[:-1]
        if not any(part.startswith(".") or part in SKIPPED_DIRS for part in parts):
            found.append(path)
    return sorted(found)


def prose_lines(text: str) -> list[str]:
    """The lines outside fenced code blocks, with inline code spans blanked out."""
    lines, fenced = [], False
    for line in text.splitlines():
        if FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            lines.append(INLINE_CODE.sub("code", line))
    return lines


def links(path: Path) -> list[str]:
    found = []
    for line in prose_lines(path.read_text(encoding="utf-8")):
        found += INLINE_LINK.findall(line)
        definition = REFERENCE_DEFINITION.match(line)
        if definition:
            found.append(definition.group(1))
    return found


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    seen: Counter[str] = Counter()
    found = set()
    fenced = False
    for line in path.read_text(encoding="utf-8").splitlines():
        if FENCE.match(line):
            fenced = not fenced
            continue
        heading = None if fenced else HEADING.match(line)
        if heading:
            base = slug(heading.group(2))
            found.add(base if seen[base] == 0 else f"{base}-{seen[base]}")
            seen[base] += 1
    return found


def broken_links(path: Path, root: Path = ROOT) -> list[str]:
    broken = []
    for target in links(path):
        if SCHEME.match(target):
            continue  # http(s), mailto: not this test's business
        file_part, _, fragment = target.partition("#")
        resolved = (path.parent / file_part).resolve() if file_part else path
        where = f"{path.relative_to(root)}: ({target})"
        if not resolved.is_relative_to(root):
            broken.append(f"{where} leaves the repository")
        elif not resolved.exists():
            broken.append(f"{where} points at nothing")
        elif fragment and resolved.suffix == ".md" and fragment not in anchors(resolved):
            broken.append(f"{where}: {resolved.name} has no heading with that anchor")
    return broken


def test_the_markdown_files_are_found() -> None:
    names = {path.relative_to(ROOT).as_posix() for path in markdown_files()}
    assert {"README.md", "docs/API.md", "sdk/js/README.md", "sdk/python/README.md"} <= names


def test_every_relative_link_resolves_in_a_clone() -> None:
    broken = [problem for path in markdown_files() for problem in broken_links(path)]
    assert broken == []


def test_the_readme_cites_the_contract_in_the_repository() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "(docs/API.md)" in readme
    # every "API.md section N" is a link to it
    for line in prose_lines(readme):
        bare = re.sub(r"\[API\.md sections? [^\]]*\]\(docs/API\.md#[^)]*\)", "", line)
        assert not re.search(r"API\.md sections? \d", bare), line


def test_the_link_checker_sees_what_a_clone_would_miss(tmp_path: Path) -> None:
    """The checker itself, on a repository of two pages: a link out of the repository (which
    may well resolve on this machine), a missing file, a missing heading; code is not prose."""
    assert anchors(ROOT / "docs" / "API.md") >= {"1-identity-and-auth", "9-web-sdk-sdkjs"}
    repo = tmp_path / "repo"
    (repo / "docs").mkdir(parents=True)
    (repo / "docs" / "API.md").write_text("# Contract\n\n## 3. Status object\n", encoding="utf-8")
    (tmp_path / "elsewhere.md").write_text("outside\n", encoding="utf-8")
    page = repo / "docs" / "page.md"
    page.write_text(
        "[a](../../elsewhere.md) [b](missing.md) [c](API.md#no-such-heading)\n"
        "`[d](nope.md)` [e](API.md#3-status-object) [f](API.md#contract) ![g](API.md)\n"
        "```\n[h](nope.md)\n```\n",
        encoding="utf-8",
    )
    problems = broken_links(page, repo)
    assert len(problems) == 3, problems
    assert "(../../elsewhere.md) leaves the repository" in problems[0]
    assert "(missing.md) points at nothing" in problems[1]
    assert "(API.md#no-such-heading): API.md has no heading" in problems[2]


def test_docs_api_md_is_the_shared_contract() -> None:
    """docs/API.md is the product's copy of the team's API.md: updated whenever that one
    changes (cp ../shared/API.md docs/API.md)."""
    if not SHARED_API.is_file():
        pytest.skip(f"no {SHARED_API} beside the repository to compare with")
    assert (ROOT / "docs" / "API.md").read_bytes() == SHARED_API.read_bytes(), (
        "docs/API.md differs from ../shared/API.md: copy it (cp ../shared/API.md docs/API.md)"
    )
