"""Any Hugging Face tokenizer.json, through the `tokenizers` library: the reference for models without a
faster exact path (SmolLM2, "hf:<dir>") and the fallback of the V4 fast path.

Counts match what a vLLM server tokenizes for the same text: no BOS/EOS is added (the chat template adds
those once per prompt), and added tokens written in the text are recognised, as the server does.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from tokenizers import Tokenizer as HFTokenizerModel

from wholerepo.errors import UsageError


def without_lone_surrogates(text: str) -> str:
    """Text decoded with surrogateescape can hold lone surrogates, which Rust strings cannot; they would
    reach the server as U+FFFD too."""
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def load_hf_tokenizer(folder: Path) -> HFTokenizerModel:
    file = folder / "tokenizer.json"
    if not file.is_file():
        raise UsageError(
            f"no tokenizer.json in {folder}; pass --tokenizer hf:<folder holding tokenizer.json>"
        )
    try:
        return HFTokenizerModel.from_file(str(file))
    except Exception as error:  # the library raises a bare Exception for malformed files
        raise UsageError(
            f"cannot load {file} ({error}); check that it is a Hugging Face tokenizer.json"
        ) from error


class HFTokenizer:
    """A `tokenizers.Tokenizer` behind the Tokenizer protocol. Batches run on the library's own thread
    pool (RAYON_NUM_THREADS, all cores by default)."""

    def __init__(self, name: str, model: HFTokenizerModel) -> None:
        self.name = name
        self.model = model

    def encode(self, text: str) -> list[int]:
        return self.model.encode(self._clean(text), add_special_tokens=False).ids

    def count(self, text: str) -> int:
        return len(self.encode(text))

    def count_many(self, texts: Sequence[str]) -> list[int]:
        cleaned = [self._clean(t) for t in texts]
        return [len(e) for e in self.model.encode_batch_fast(cleaned, add_special_tokens=False)]

    @staticmethod
    def _clean(text: str) -> str:
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            return without_lone_surrogates(text)
        return text
