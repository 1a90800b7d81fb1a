"""Contract: action.yml's own shell steps work. GitHub's runner cannot run here, so the test runs each
`run:` script of the composite action with bash, with the environment the runner would give it (inputs
through env, GITHUB_OUTPUT a file), in a real clone whose base branch exists only on its remote; the model
is the fake OpenAI server (fake_openai.py says why). The SARIF it writes is checked against the schema, and the
markdown report must land in $GITHUB_STEP_SUMMARY (or a line saying no review happened)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(__file__).with_name("data")
FINDING = {"category": "bug", "severity": "error", "path": "calc.py", "line": 1, "title": "Division by zero",
           "message": "mean([]) divides by zero", "quote": "return sum(values) / len(values)", "suggestion": ""}


def _steps() -> dict[str, dict]:
    action = yaml.safe_load((ROOT / "action.yml").read_text())
    assert action["runs"]["using"] == "composite"
    return {step.get("id") or step["name"]: step for step in action["runs"]["steps"]}


def test_run_scripts_take_inputs_from_env_only() -> None:
    # ${{ }} pasted into a script is the classic injection (a branch named `$(curl ...)`).
    for name, step in _steps().items():
        if "run" in step:
            assert "${{" not in step["run"], f"step {name!r} interpolates an expression into its script"
    upload = _steps()["Upload SARIF"]
    assert upload["uses"].startswith("github/codeql-action/upload-sarif@") and "always()" in upload["if"]


def _bash(script: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"  # `wholerepo` as pip installs it
    return subprocess.run(["bash", "-e", "-c", script], cwd=cwd, env={**os.environ, **env, "PATH": path},
                          capture_output=True, text=True, timeout=300)


@pytest.fixture
def pull_request_clone(make_repo, tmp_path: Path) -> Path:
    origin = make_repo({"calc.py": "def mean(values):\n    return 0\n", "main.py": "from calc import mean\n"})
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(origin), str(clone)], check=True)
    subprocess.run(["git", "checkout", "-q", "-b", "feature"], cwd=clone, check=True)
    (clone / "calc.py").write_text("def mean(values):\n    return sum(values) / len(values)\n")
    subprocess.run(["git", "commit", "-qam", "real mean"], cwd=clone, check=True)
    subprocess.run(["git", "branch", "-q", "-D", "main"], cwd=clone, check=True)  # like a PR checkout
    return clone


def test_action_steps_review_a_pull_request(pull_request_clone: Path, fake_openai, tmp_path: Path) -> None:
    steps = _steps()
    github_output = tmp_path / "github_output"
    github_output.write_text("")
    step_summary = tmp_path / "step_summary.md"
    step_summary.write_text("earlier step output\n")
    fetched = _bash(steps["Fetch the base branch"]["run"], pull_request_clone, {"BASE": "main"})
    assert fetched.returncode == 0, fetched.stderr

    fake_openai.answer({"findings": [FINDING], "summary": "PASS"})
    env = {"WHOLEREPO_ENDPOINT": fake_openai.base_url, "WHOLEREPO_API_KEY": "", "WHOLEREPO_MODEL": "",
           "BASE": "main", "FAIL_ON": "error", "ON_UNAVAILABLE": "fail", "MAX_FINDINGS": "5",
           "SARIF_FILE": "wholerepo.sarif", "GITHUB_OUTPUT": str(github_output), "CI": "true",
           "GITHUB_STEP_SUMMARY": str(step_summary)}
    review = _bash(steps["review"]["run"], pull_request_clone, env)
    assert review.returncode == 0, review.stderr  # the step records the code; the last step fails the job
    assert github_output.read_text().strip() == "exit-code=1"
    summary = step_summary.read_text()
    assert summary.startswith("earlier step output\n## wholerepo review: 1 finding(s)")  # appended, not replaced
    assert "Division by zero" in summary and "calc.py:2" in summary and "merge-base with origin/main" in summary
    log = json.loads((pull_request_clone / "wholerepo.sarif").read_text())
    jsonschema.Draft4Validator(json.loads((DATA / "sarif-schema-2.1.0.json").read_text())).validate(log)
    (result,) = log["runs"][0]["results"]
    assert result["locations"][0]["physicalLocation"]["region"]["startLine"] == 2
    assert "merge-base with origin/main" in log["runs"][0]["properties"]["coverage"]["scope"]

    final = _bash(steps["Fail on findings or on a review that did not happen"]["run"], pull_request_clone,
                  {"CODE": "1"})
    assert final.returncode == 1 and final.stdout.startswith("::error::wholerepo found defects")


def test_action_review_step_records_exit_3_when_the_server_is_down(pull_request_clone: Path, closed_port: int,
                                                                   tmp_path: Path) -> None:
    github_output = tmp_path / "github_output"
    env = {"WHOLEREPO_ENDPOINT": f"http://127.0.0.1:{closed_port}", "BASE": "origin/main", "FAIL_ON": "error",
           "ON_UNAVAILABLE": "fail", "MAX_FINDINGS": "5", "SARIF_FILE": "wholerepo.sarif",
           "GITHUB_OUTPUT": str(github_output), "GITHUB_STEP_SUMMARY": str(tmp_path / "step_summary.md")}
    review = _bash(_steps()["review"]["run"], pull_request_clone, env)
    assert review.returncode == 0 and github_output.read_text().strip() == "exit-code=3"
    assert (tmp_path / "step_summary.md").read_text().startswith("**wholerepo did not review this change** (exit 3)")
    assert not (pull_request_clone / "wholerepo.sarif").exists()  # nothing uploaded for a review that did not run
