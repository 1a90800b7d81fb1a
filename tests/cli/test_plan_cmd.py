"""Contract: `plan` prints the memory plan for Flash and Pro on the GPUs named, as a table or JSON."""

from __future__ import annotations

import json
import shutil

import pytest
from typer.testing import CliRunner

from wholerepo.cli.app import app


def test_plan_json_for_two_sets() -> None:
    result = CliRunner().invoke(app, ["plan", "--gpus", "2xH200", "--gpus", "8xH200", "--json"])
    assert result.exit_code == 0, result.stderr
    rows = {(row["model"], row["gpus"]): row for row in json.loads(result.stdout)}
    assert set(rows) == {(m, g) for m in ("v4-flash", "v4-pro") for g in ("2xH200", "8xH200")}
    assert rows[("v4-flash", "2xH200")]["kv_per_sequence_1m_gib"] == 3.842
    assert rows[("v4-flash", "2xH200")]["parallelism"] == "DP2 + EP2"
    assert not rows[("v4-pro", "2xH200")]["fits"] and "8xH200" in rows[("v4-pro", "2xH200")]["problem"]
    assert rows[("v4-pro", "8xH200")]["fits"]


def test_plan_bf16_table_at_128k() -> None:
    result = CliRunner().invoke(app, ["plan", "--gpus", "4xB200", "--kv-dtype", "bf16", "--context", "131072"])
    assert result.exit_code == 0, result.stderr
    assert "KV bf16, context 131,072" in result.stdout
    assert "9.62" in result.stdout and "6.72" in result.stdout  # Pro and Flash per 1M sequence, bf16


@pytest.mark.skipif(shutil.which("nvidia-smi") is not None, reason="this host has GPUs")
def test_plan_without_gpus_asks_for_a_set() -> None:
    result = CliRunner().invoke(app, ["plan"])
    assert result.exit_code == 2 and "--gpus" in result.stderr
