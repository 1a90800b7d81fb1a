"""Contract: defaults < user config < project file < WHOLEREPO_* env < flags, each value naming its source;
bad files and values are ConfigError (exit 2) naming what to fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from wholerepo import paths
from wholerepo.config import load_config
from wholerepo.errors import ConfigError


def _user_config(text: str) -> Path:
    path = paths.config_dir() / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_defaults(tmp_path: Path) -> None:
    config = load_config(tmp_path, {}, env={})
    assert config["fail_on"] == "none" and config["max_findings"] == 10 and config["on_unavailable"] is None
    assert config.source("fail_on") == "default"


def test_each_layer_overrides_the_one_below(tmp_path: Path) -> None:
    user = _user_config('fail_on = "note"\nmax_findings = 3\ntimeout = 30\nmodel = "user-model"\n')
    (tmp_path / "pyproject.toml").write_text('[tool.wholerepo]\nfail-on = "warning"\nmax_findings = 4\n')
    env = {"WHOLEREPO_FAIL_ON": "error", "WHOLEREPO_HOME": "/ignored", "WHOLEREPO_TIMEOUT": "45"}
    config = load_config(tmp_path, {"fail_on": None, "timeout": 90.0}, env=env)
    assert (config["model"], config.source("model")) == ("user-model", str(user))
    assert (config["max_findings"], config.source("max_findings")) == (4, f"{tmp_path / 'pyproject.toml'} [tool.wholerepo]")
    assert (config["fail_on"], config.source("fail_on")) == ("error", "env WHOLEREPO_FAIL_ON")
    assert (config["timeout"], config.source("timeout")) == (90.0, "flag --timeout")


def test_dedicated_file_wins_over_pyproject_without_merging(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.wholerepo]\nmax_findings = 4\nfail_on = "note"\n')
    (tmp_path / ".wholerepo.toml").write_text('max_findings = 7\n')
    config = load_config(tmp_path, {}, env={})
    assert config["max_findings"] == 7 and config["fail_on"] == "none"


def test_pyproject_without_our_table_is_ignored(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n')
    assert load_config(tmp_path, {}, env={}).source("fail_on") == "default"


@pytest.mark.parametrize(
    ("file_text", "env", "flags", "match"),
    [
        ('fail_on = "sometimes"\n', {}, {}, r"\.wholerepo\.toml: fail_on = 'sometimes'; choose one of"),
        ('colour = "red"\n', {}, {}, "unknown setting 'colour'"),
        ("max_findings = [\n", {}, {}, "not valid TOML"),
        ("max_findings = 2.5\n", {}, {}, "is not an int"),
        ("", {"WHOLEREPO_MAX_FINDINGS": "many"}, {}, "env WHOLEREPO_MAX_FINDINGS"),
        ("", {"WHOLEREPO_BUDGET": "-5"}, {}, "must be positive"),
        ("", {}, {"on_unavailable": "maybe"}, "flag --on-unavailable"),
    ],
)
def test_bad_values_name_their_source(tmp_path: Path, file_text: str, env: dict, flags: dict, match: str) -> None:
    (tmp_path / ".wholerepo.toml").write_text(file_text)
    with pytest.raises(ConfigError, match=match):
        load_config(tmp_path, flags, env=env)


def test_real_environment_is_read_by_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WHOLEREPO_ON_UNAVAILABLE", "fail")
    assert load_config(tmp_path, {})["on_unavailable"] == "fail"
