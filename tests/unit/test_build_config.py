"""What `sam build` (make build) reads besides template.yaml: each function's requirements.txt."""

from __future__ import annotations

from pathlib import Path

from local import template as cfn
from local.template import ROOT


def requirement_lines(path: Path) -> list[str]:
    lines = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
    return [line for line in lines if line]


def test_every_function_has_a_requirements_file_that_leaves_dependencies_to_the_layer() -> None:
    """Without a requirements.txt in its CodeUri, `sam build` warns "requirements.txt file not
    found" once per function; the functions' dependencies all live in the presence layer."""
    template = cfn.load_template()
    code_dirs = {
        str(resource["Properties"]["CodeUri"])
        for resource in template["Resources"].values()
        if resource.get("Type") == "AWS::Serverless::Function"
    }
    assert code_dirs
    for code_dir in sorted(code_dirs):
        requirements = ROOT / code_dir / "requirements.txt"
        assert requirements.is_file(), f"{code_dir} has no requirements.txt (copy another's)"
        assert requirement_lines(requirements) == [], (
            f"{requirements.relative_to(ROOT)}: dependencies belong in"
            " layers/presence/requirements.txt (the local runtime and the tests install that one)"
        )
    assert requirement_lines(ROOT / "layers" / "presence" / "requirements.txt")
