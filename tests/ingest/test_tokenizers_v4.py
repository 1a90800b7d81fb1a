"""Contract: "v4" gives exactly the ids of DeepSeek V4's tokenizer.json run by HF `tokenizers`.

The fast path (a tiktoken Encoding of the same vocabulary) may only see text it is verified on; all other
text must reach HF. These tests keep that true on a bounded sample (< 60 s on two cores); the exhaustive
checks (every safe code point, every file of a 34k-file corpus) are in bench/tokenizer_speed.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import quicktok

from wholerepo.ingest.tokenizer_v4 import V4Tokenizer, is_foldable, unsafe_char_pattern, v4_tokenizer_dir
from wholerepo.ingest.tokenizer_v4_charset import VERIFY_CONTEXTS
from wholerepo.ingest.tokenizers import get_tokenizer

SITE_PACKAGES = Path(quicktok.__file__).parent.parent
SUFFIXES = {".py", ".pyi", ".c", ".h", ".json", ".md", ".txt"}


@pytest.fixture(scope="module")
def v4() -> V4Tokenizer:
    tokenizer = get_tokenizer("v4")
    assert isinstance(tokenizer, V4Tokenizer)
    return tokenizer


def hf_ids(v4: V4Tokenizer, texts: list[str]) -> list[list[int]]:
    return [e.ids for e in v4.hf.model.encode_batch_fast(texts, add_special_tokens=False)]


def corpus_sample(max_chars: int) -> list[str]:
    """Real files of the venv, non-ASCII ones first (where the two paths can disagree), in a fixed order."""
    non_ascii: list[str] = []
    ascii_only: list[str] = []
    for package in (
        "rich",
        "idna",
        "pygments",
        "jsonschema",
        "click",
        "typer",
        "pip/_vendor",
        "sympy/printing",
    ):
        for path in sorted((SITE_PACKAGES / package).rglob("*")):
            if path.suffix in SUFFIXES and path.is_file() and path.stat().st_size < 400_000:
                text = path.read_bytes().decode("utf-8", "replace")
                (ascii_only if text.isascii() else non_ascii).append(text)
    sample: list[str] = []
    total = 0
    for text in non_ascii[::2] + ascii_only[::15]:
        if total + len(text) > max_chars:
            continue
        sample.append(text)
        total += len(text)
    return sample


def test_vocabulary_is_a_tiktoken_vocabulary() -> None:
    """Merge order equals id order, so tiktoken's rank-ordered merging can reproduce it."""
    config = json.loads((v4_tokenizer_dir() / "tokenizer.json").read_text(encoding="utf-8"))
    assert is_foldable(config)
    vocab = config["model"]["vocab"]
    result_ids = [
        vocab["".join(m.split(" ") if isinstance(m, str) else m)] for m in config["model"]["merges"]
    ]
    assert result_ids == sorted(result_ids)
    assert len(set(result_ids)) == len(result_ids)


def test_equals_hf_on_real_files(v4: V4Tokenizer) -> None:
    texts = corpus_sample(2_500_000)
    expected = hf_ids(v4, texts)
    on_fast_path = [v4.can_take_fast_path(t) for t in texts]
    assert sum(on_fast_path) > 0.8 * len(texts), "the fast path should take most real files"
    assert sum(not fast for fast in on_fast_path) > 0, "the sample should hold files that need HF"
    assert v4.count_many(texts) == [len(ids) for ids in expected]
    mismatched = [i for i, t in enumerate(texts) if v4.encode(t) != expected[i]]
    assert mismatched == []


def test_safe_code_points_in_every_context(v4: V4Tokenizer) -> None:
    """A spread of the verified characters (every 97th, plus the edges of the CJK and digit classes),
    each in the contexts bench/tokenizer_speed.py --codepoints checks for all of them."""
    unsafe = unsafe_char_pattern()
    edges = "\u4e00\u9fa5\u9fa6\u3040\u309f\u30a0\u30ff\u3099\u309b\u30fb\u0660\u00b2\u00bd\u2167\x0b\x0c\x85\u00a0"
    safe = [chr(c) for c in range(0x110000) if not 0xD800 <= c < 0xE000 and not unsafe.match(chr(c))]
    chars = safe[::97] + [c for c in edges if not unsafe.match(c)]
    texts = [context.replace("{c}", ch) for ch in chars for context in VERIFY_CONTEXTS]
    assert v4._fast is not None
    fast = v4._fast.encode_ordinary_batch(texts, num_threads=2)
    expected = hf_ids(v4, texts)
    differing = sorted({repr(texts[i]) for i in range(len(texts)) if fast[i] != expected[i]})
    assert differing == []


@pytest.mark.parametrize(
    "text",
    [
        "x = 1  # \u202eevil\u202c\n",  # bidi override: a format character
        'yield Segment("\u200b")\n',  # zero-width space
        "a\x00b\x1cc\x7f",  # controls
        '"\uf400 "',  # private use
        '"\ua7cd",',  # unassigned in Unicode 14
        "<\uff5cUser\uff5c>hi</think>",  # added tokens
        "a<think>b <|EOT|> <dsml:x",
    ],
)
def test_text_outside_the_verified_set_goes_to_hf(v4: V4Tokenizer, text: str) -> None:
    assert not v4.can_take_fast_path(text)
    expected = v4.hf.encode(text)
    assert v4.encode(text) == expected
    assert v4.count_many(["plain", text, "plain"]) == [1, len(expected), 1]


def test_fast_path_alone_would_be_wrong_there(v4: V4Tokenizer) -> None:
    """Why the routing exists: tiktoken skips characters no alternative matches; HF keeps them."""
    assert v4._fast is not None
    for text in ('("\u200b")', "x\u202e!", "\x01\x02", '"\uf400 "'):
        assert v4._fast.encode_ordinary(text) != v4.hf.encode(text)


@pytest.mark.parametrize(
    "text",
    [
        "abc\u4e2d\u6587def",  # letters stop at a CJK run
        "   123",  # `\s+(?!\S)` ends before a digit run
        "x  \n\n  42abc",
        "1234567 12,345.678",
        "\u3053\u3093\u306b\u3061\u306f\u4e16\u754c!",  # kana + Han
        "a\u3099b \u309b\u30fb",  # kana marks and punctuation inside the CJK range
        "caf\u00e9 na\u0308ive \u0301x",  # combining marks
        "\u0661\u0662\u0663\u0664 \u00b2\u00bd",  # non-ASCII digits
        "'s 've x.y.z ..foo\r\n\r\n\t\t",
        "",
    ],
)
def test_pre_tokenizer_boundaries(v4: V4Tokenizer, text: str) -> None:
    assert v4.can_take_fast_path(text)
    assert v4.encode(text) == v4.hf.encode(text)


def test_surrogates_are_counted(v4: V4Tokenizer) -> None:
    """Text decoded with surrogateescape still counts (as U+FFFD, which is what reaches a server)."""
    text = "name = 'caf\udce9'\n"
    assert not v4.can_take_fast_path(text)
    assert v4.count(text) == v4.hf.count(text.replace("\udce9", "\ufffd"))


def test_long_text_with_one_unsafe_character_is_exact(v4: V4Tokenizer) -> None:
    """A long text that fails the guard is counted in parts, only the failing part by HF."""
    text = "\n".join(corpus_sample(400_000))
    middle = text.index("\ndef ", len(text) // 2)
    text = text[:middle] + " \u200b\u202e" + text[middle:]
    assert not v4.can_take_fast_path(text)
    expected = v4.hf.count(text)
    assert v4.count(text) == expected
    assert v4.count_many(["x", text]) == [1, expected]
