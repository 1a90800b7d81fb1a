"""Contract: SmolLM2's tokenizer and model folders are built once, atomically, and concurrent callers get
the same complete folder (no half-written cache, no leftover scratch folders)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from tokenizers import Tokenizer

from wholerepo.runtime.smollm2 import ensure_model_dir, ensure_tokenizer_dir, find_gguf

BUILD = "from wholerepo.runtime.smollm2 import ensure_tokenizer_dir; print(ensure_tokenizer_dir())"


def test_gguf_ships_in_the_package() -> None:
    assert find_gguf().stat().st_size > 90_000_000


def test_tokenizer_folder_loads_and_has_the_chat_tokens() -> None:
    folder = ensure_tokenizer_dir()
    tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
    assert tokenizer.get_vocab_size() == 49_152
    assert tokenizer.token_to_id("<|im_start|>") == 1 and tokenizer.token_to_id("<|im_end|>") == 2
    config = json.loads((folder / "tokenizer_config.json").read_text())
    assert config["eos_token"] == "<|im_end|>"
    assert ensure_tokenizer_dir() == folder  # second call: cached


@pytest.mark.slow
def test_concurrent_builds_make_one_complete_folder(tmp_path: Path) -> None:
    env = {**os.environ, "WHOLEREPO_MODEL_CACHE": str(tmp_path)}
    racers = [subprocess.Popen([sys.executable, "-c", BUILD], env=env, stdout=subprocess.PIPE, text=True)
              for _ in range(2)]
    outputs = {racer.communicate(timeout=300)[0].strip() for racer in racers}
    assert all(racer.returncode == 0 for racer in racers)
    assert len(outputs) == 1
    folder = Path(outputs.pop())
    assert (folder / "tokenizer.json").is_file()
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock")) == [folder.name]


def test_model_folder_is_plain_bf16() -> None:
    folder = ensure_model_dir()
    config = json.loads((folder / "config.json").read_text())
    assert config["architectures"] == ["LlamaForCausalLM"] and config["num_hidden_layers"] == 30
    assert config["dtype"] == "bfloat16" and "quantization_config" not in config
    assert (folder / "tokenizer.json").is_file()
    assert 250_000_000 < (folder / "model.safetensors").stat().st_size < 300_000_000
