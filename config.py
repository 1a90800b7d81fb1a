"""Settings from four places, lowest precedence first: built-in defaults, the user's config
(<config_dir>/config.toml), the project's file (.wholerepo.toml, else [tool.wholerepo] in pyproject.toml, at
the repository root), environment variables WHOLEREPO_<KEY>, then command-line flags. Every value remembers
where it came from, so `--verbose` output and error messages can name the file or variable to fix.

In CI the project file belongs to whoever opened the pull request: pass the settings that decide the job
(--fail-on, --on-unavailable, --endpoint) as flags, which win over every file.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wholerepo import paths
from wholerepo.errors import ConfigError

ENV_PREFIX = "WHOLEREPO_"


@dataclass(frozen=True, slots=True)
class Setting:
    key: str
    kind: type  # str, int or float
    default: Any
    choices: tuple[str, ...] = ()
    help: str = ""

    @property
    def env_var(self) -> str:
        return ENV_PREFIX + self.key.upper()


SETTINGS: tuple[Setting, ...] = (
    Setting("endpoint", str, None, help="OpenAI-compatible base URL; none: the local server"),
    Setting("model", str, None, help="model name on the endpoint; none: the server's first model"),
    Setting("profile", str, None, help="model profile (v4-flash, v4-pro, smollm2); none: from the served model"),
    Setting("tokenizer", str, None, help="tokenizer for budgets; none: the profile's"),
    Setting("budget", int, None, help="cap on the packed repository's tokens"),
    Setting("timeout", float, 600.0, help="seconds to wait for the model's answer"),
    Setting("fail_on", str, "none", ("none", "note", "warning", "error"), "lowest severity that exits 1"),
    Setting("on_unavailable", str, None, ("pass", "fail"), "when no review happened; none: fail in CI, pass elsewhere"),
    Setting("review_format", str, "text",
            ("text", "markdown", "json", "jsonl", "sarif", "rdjsonl", "github", "codequality"), "review output"),
    Setting("max_findings", int, 10, help="most findings one review reports"),
    Setting("max_answer_tokens", int, None, help="cap on the review answer's tokens; none: from the model profile"),
    Setting("context_lines", int, 10, help="unchanged lines around each diff hunk"),
)
_BY_KEY = {s.key: s for s in SETTINGS}


@dataclass(frozen=True, slots=True)
class Value:
    value: Any
    source: str  # "default", "flag --fail-on", "env WHOLEREPO_FAIL_ON", or a file path with its table


@dataclass(frozen=True, slots=True)
class Config:
    values: Mapping[str, Value]

    def __getitem__(self, key: str) -> Any:
        return self.values[key].value

    def source(self, key: str) -> str:
        return self.values[key].source


def _coerce(setting: Setting, raw: Any, source: str) -> Any:
    """Check one value against its setting; the message names the source to fix."""
    if raw is None:
        return None
    try:
        if setting.kind is int and isinstance(raw, (bool, float)):
            raise ValueError
        value = setting.kind(raw)
    except (TypeError, ValueError):
        raise ConfigError(f"{source}: {setting.key} = {raw!r} is not a{'n' if setting.kind is int else ''} "
                          f"{setting.kind.__name__}") from None
    if setting.kind is str:
        value = value.strip()
        if setting.choices and value not in setting.choices:
            raise ConfigError(f"{source}: {setting.key} = {raw!r}; choose one of: {', '.join(setting.choices)}")
    elif value <= 0:
        raise ConfigError(f"{source}: {setting.key} must be positive, got {raw!r}")
    return value


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path} is not valid TOML ({error}); fix or remove it") from None
    except OSError as error:
        raise ConfigError(f"cannot read {path} ({error.strerror})") from None


def _table_values(table: Any, source: str) -> dict[str, Value]:
    if not isinstance(table, dict):
        raise ConfigError(f"{source} must be a table of settings")
    values = {}
    for raw_key, raw in table.items():
        key = raw_key.replace("-", "_")
        if key not in _BY_KEY:
            raise ConfigError(f"{source}: unknown setting {raw_key!r}; known: {', '.join(_BY_KEY)}")
        values[key] = Value(_coerce(_BY_KEY[key], raw, source), source)
    return values


def _project_values(repo_root: Path | None) -> dict[str, Value]:
    """.wholerepo.toml wins over pyproject.toml; only the first found is read (as ruff does), never merged."""
    if repo_root is None:
        return {}
    dedicated = repo_root / ".wholerepo.toml"
    if dedicated.is_file():
        return _table_values(_read_toml(dedicated), str(dedicated))
    pyproject = repo_root / "pyproject.toml"
    if pyproject.is_file():
        table = _read_toml(pyproject).get("tool", {}).get("wholerepo")
        if table is not None:
            return _table_values(table, f"{pyproject} [tool.wholerepo]")
    return {}


def _env_values(env: Mapping[str, str]) -> dict[str, Value]:
    values = {}
    for setting in SETTINGS:
        raw = env.get(setting.env_var)
        if raw is not None and raw.strip():
            source = f"env {setting.env_var}"
            values[setting.key] = Value(_coerce(setting, raw, source), source)
    return values


def load_config(repo_root: Path | None, flags: Mapping[str, Any], env: Mapping[str, str] | None = None) -> Config:
    """Merge every layer; `flags` maps setting keys to the value given on the command line, or None."""
    unknown = set(flags) - set(_BY_KEY)
    if unknown:
        raise ValueError(f"flags for unknown settings: {sorted(unknown)}")  # a caller bug, not user input
    values = {s.key: Value(s.default, "default") for s in SETTINGS}
    user_file = paths.config_dir() / "config.toml"
    if user_file.is_file():
        values.update(_table_values(_read_toml(user_file), str(user_file)))
    values.update(_project_values(repo_root))
    values.update(_env_values(os.environ if env is None else env))
    for key, raw in flags.items():
        if raw is not None:
            source = f"flag --{key.replace('_', '-')}"
            values[key] = Value(_coerce(_BY_KEY[key], raw, source), source)
    return Config(values)
