"""End to end against the real vLLM CPU server with the embedded SmolLM2-135M: the review happens (exit 0 or
1) and the report is valid. Its content is not checked: a 135M model rarely finds a real defect, which is
why the harness itself is tested through fake_openai.py."""

from __future__ import annotations

import json
import subprocess
from importlib import resources

import jsonschema
import pytest
from typer.testing import CliRunner

from wholerepo.cli.app import app

pytestmark = pytest.mark.server


def test_review_against_the_real_server(llm_server, make_repo) -> None:
    repo = make_repo({"calc.py": "def mean(values):\n    return 0\n", "main.py": "from calc import mean\n"})
    (repo / "calc.py").write_text("def mean(values):\n    return sum(values) / len(values)\n")
    subprocess.run(["git", "add", "calc.py"], cwd=repo, check=True)
    result = CliRunner().invoke(app, [
        "review", str(repo), "--staged", "--endpoint", llm_server.base_url, "--profile", "smollm2",
        "--format", "json", "--max-findings", "1", "--max-answer-tokens", "128", "--fail-on", "error",
        "--on-unavailable", "fail",
        "--timeout", "100",
    ])
    assert result.exit_code in (0, 1), result.stderr
    report = json.loads(result.stdout)
    schema = json.loads(resources.files("wholerepo.review").joinpath("report.schema.json").read_text())
    jsonschema.Draft202012Validator(schema).validate(report)
    assert report["model"] == llm_server.model and report["attempts"] in (1, 2)
    assert report["coverage"]["changed_paths"] == ["calc.py"] and "calc.py" in report["coverage"]["files"]["full"]
