"""Contract: starting the CLI (and `--help`) loads no model client, schema validator or pack pipeline;
each command imports what it needs when it runs (start-up was ~0.45 s with all of them)."""

from __future__ import annotations

import subprocess
import sys

from wholerepo.cli import serve_cmd
from wholerepo.runtime.local import DEFAULT_IDLE_MINUTES

HEAVY = ("httpx", "jsonschema", "wholerepo.jobs.ask", "wholerepo.jobs.review", "wholerepo.ingest.pack")


def test_importing_the_app_loads_no_heavy_module() -> None:
    probe = f"import sys, wholerepo.cli.app; print(' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    loaded = subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True, text=True).stdout
    assert loaded.split() == []


def test_serve_help_default_matches_the_runtime() -> None:
    assert serve_cmd.IDLE_MINUTES == DEFAULT_IDLE_MINUTES
