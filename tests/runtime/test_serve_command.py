"""Contract: `serve` builds the recipe's vLLM flags for the hardware found or named, and the CPU default's
flags keep prefix caching and its reporting on (the next ask on the same repository depends on them)."""

from __future__ import annotations

import json

import pytest

from wholerepo.errors import HardwareError
from wholerepo.runtime.hardware import _parse_nvidia_smi, parse_gpu_set
from wholerepo.runtime.serve_command import build_serve_command


def _flag(argv: tuple[str, ...], name: str) -> str:
    return argv[argv.index(name) + 1]


def test_cpu_default_is_smollm2_eager_with_prefix_cache_reporting(tmp_path) -> None:
    command = build_serve_command(None, gpus=None, port=8123, model_dir=tmp_path)
    argv = command.argv
    assert command.served_name == "smollm2"
    assert argv[1:3] == ("-m", "vllm.entrypoints.launchers.api_server.entry")
    assert _flag(argv, "--model") == str(tmp_path) and _flag(argv, "--max-model-len") == "8192"
    assert _flag(argv, "--host") == "127.0.0.1" and _flag(argv, "--port") == "8123"
    for flag in ("--enforce-eager", "--enable-prefix-caching", "--enable-prompt-tokens-details"):
        assert flag in argv
    assert command.env["VLLM_CPU_KVCACHE_SPACE"] == "1"
    assert command.env["VLLM_CPU_NUM_OF_RESERVED_CPU"] == "0"
    assert "VLLM_CPU_KVCACHE_SPACE=1" in command.shell_text()


def test_gpu_default_is_flash_with_hopper_flags() -> None:
    command = build_serve_command(None, gpus=parse_gpu_set("4xH200"), port=8000)
    argv = command.argv
    assert command.served_name == "v4-flash" and _flag(argv, "--model") == "deepseek-ai/DeepSeek-V4-Flash"
    assert _flag(argv, "--kv-cache-dtype") == "fp8" and _flag(argv, "--block-size") == "256"
    assert _flag(argv, "--tokenizer-mode") == "deepseek_v4" and _flag(argv, "--reasoning-parser") == "deepseek_v4"
    assert _flag(argv, "--data-parallel-size") == "4" and "--enable-expert-parallel" in argv
    assert json.loads(_flag(argv, "--speculative-config")) == {"method": "mtp", "num_speculative_tokens": 1}
    assert not any("fp4_indexer" in part for part in argv)  # SM100 only
    assert _flag(argv, "--max-model-len") == "1048576"


def test_blackwell_gets_two_draft_tokens_and_the_fp4_indexer_cache() -> None:
    argv = build_serve_command("v4-pro", gpus=parse_gpu_set("8xB200"), port=8000).argv
    assert json.loads(_flag(argv, "--speculative-config"))["num_speculative_tokens"] == 2
    assert "--attention_config.use_fp4_indexer_cache=True" in argv


def test_pro_on_hopper_uses_the_recipe_utilization() -> None:
    argv = build_serve_command("v4-pro", gpus=parse_gpu_set("8xH200"), port=8000).argv
    assert _flag(argv, "--gpu-memory-utilization") == "0.95"


@pytest.mark.parametrize(("model", "gpus", "message"), [
    ("v4-flash", "1xH200", "2xH200"),
    ("v4-pro", "4xH200", "8xH200"),
    ("v4-flash", "8xA100", "Hopper"),
    ("v4-pro", "8xL40S", "Hopper"),
])
def test_refusals_name_what_would_work(model: str, gpus: str, message: str) -> None:
    with pytest.raises(HardwareError, match=message):
        build_serve_command(model, gpus=parse_gpu_set(gpus), port=8000)


def test_v4_without_gpus_is_refused() -> None:
    with pytest.raises(HardwareError, match="GPUs"):
        build_serve_command("v4-flash", gpus=None, port=8000)


def test_any_hugging_face_folder_is_served_by_its_folder_name(tmp_path) -> None:
    folder = tmp_path / "my-model"
    folder.mkdir()
    command = build_serve_command(str(folder), gpus=None, port=8000, max_model_len=4096)
    assert command.served_name == "my-model" and _flag(command.argv, "--max-model-len") == "4096"
    assert "--enforce-eager" in command.argv


def test_nvidia_smi_output_is_read_as_a_gpu_set() -> None:
    found = _parse_nvidia_smi("NVIDIA H200, 143771, 9.0\nNVIDIA H200, 143771, 9.0\n")
    assert found is not None and found.label == "2xH200" and found.kind.is_hopper
    b300 = _parse_nvidia_smi("NVIDIA B300 SXM6 AC, 275040, 10.3\n")
    assert b300 is not None and b300.kind.name == "B300" and b300.kind.is_blackwell_datacenter
