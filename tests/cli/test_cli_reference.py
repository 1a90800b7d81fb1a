"""Contract: docs/cli.md is exactly what the commands' --help prints (regenerate with
`.venv/bin/python tools/cli_reference.py > docs/cli.md`)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_cli_reference_is_current() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "cli_reference.py")],
        capture_output=True, text=True, env={**os.environ, "WHOLEREPO_HOME": os.environ["WHOLEREPO_HOME"]},
        check=False,
    )
    assert done.returncode == 0, done.stderr
    current = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    assert done.stdout == current, "docs/cli.md is stale: run tools/cli_reference.py > docs/cli.md"
