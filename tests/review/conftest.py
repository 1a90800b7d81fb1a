"""Fixtures for review tests: a fake OpenAI-compatible server (see fake_openai.py for why it stands in for
the model) and a closed loopback port for "server down"."""

from __future__ import annotations

import importlib.util
import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest


def load_fake_module() -> ModuleType:
    """Import fake_openai.py by path: with --import-mode=importlib test folders are not packages."""
    name = "wholerepo_tests_fake_openai"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name("fake_openai.py"))
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def fake_openai() -> Iterator[object]:
    module = load_fake_module()
    state = module.FakeOpenAI()
    running = module.RunningFake(state)
    try:
        yield state
    finally:
        running.close()


@pytest.fixture
def closed_port() -> int:
    """A loopback port nothing listens on: bind, read the number, close."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
