"""Where wholerepo keeps user state. One variable, WHOLEREPO_HOME, relocates all of it (tests point it at
tmp_path), otherwise the XDG folders are used through platformdirs."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP_NAME = "wholerepo"


def _home_override() -> Path | None:
    value = os.environ.get("WHOLEREPO_HOME")
    return Path(value).expanduser() if value else None


def cache_dir() -> Path:
    """Token-count cache, converted models, tokenizer files: safe to delete, rebuilt on demand."""
    home = _home_override()
    path = home / "cache" if home else Path(platformdirs.user_cache_dir(APP_NAME))
    path.mkdir(parents=True, exist_ok=True)
    return path


def state_dir() -> Path:
    """Running servers (PID, port, model) and logs."""
    home = _home_override()
    path = home / "state" if home else Path(platformdirs.user_state_dir(APP_NAME))
    path.mkdir(parents=True, exist_ok=True)
    return path


def config_dir() -> Path:
    """The user's config.toml."""
    home = _home_override()
    path = home / "config" if home else Path(platformdirs.user_config_dir(APP_NAME))
    return path
