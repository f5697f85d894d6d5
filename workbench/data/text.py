"""Text fields: reading caption files, a Unicode-aware tokenizer, and its saved vocabulary.

Words of space-separated scripts are kept whole (with their combining marks, so Hindi
or Vietnamese words are not cut apart); scripts written without spaces between words
(Chinese, Japanese kana, Thai, Lao, Khmer, Myanmar) are split into single characters,
which needs no dictionary and works for any text; every other visible character
(punctuation, symbols, emoji with their modifiers and ZWJ sequences) is its own token.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable

import torch

PAD_ID = 0
UNKNOWN_ID = 1
SPECIAL_TOKENS = ("<pad>", "<unk>")

# Scripts written without spaces between words: one token per character.
_UNSPACED_RANGES = (
    "\u0e00-\u0eff"  # Thai, Lao
    "\u1000-\u109f"  # Myanmar
    "\u1780-\u17ff"  # Khmer
    "\u2e80-\u2fdf"  # CJK radicals
    "\u3005-\u3007"  # CJK iteration marks
    "\u3040-\u30ff"  # Hiragana, Katakana
    "\u3100-\u312f"  # Bopomofo
    "\u31f0-\u31ff"  # Katakana extensions
    "\u3400-\u4dbf"  # CJK extension A
    "\u4e00-\u9fff"  # CJK unified ideographs
    "\uf900-\ufaff"  # CJK compatibility ideographs
    "\uff66-\uff9f"  # half-width Katakana
    "\U00020000-\U0003134f"  # CJK extensions B-G
)
# Characters that belong to the character before them: emoji variation selectors, skin tones, keycaps.
_EMOJI_MODIFIERS = "\ufe00-\ufe0f\U0001f3fb-\U0001f3ff\u20e3\U000e0020-\U000e007f"


def _char_class(codepoints: Iterable[int]) -> str:
    """A regex character-class body covering ``codepoints``, as compact ranges."""
    parts: list[str] = []
    run_start = previous = None
    for code in sorted(codepoints):
        if previous is not None and code == previous + 1:
            previous = code
            continue
        if run_start is not None:
            parts.append(_range(run_start, previous))
        run_start = previous = code
    if run_start is not None:
        parts.append(_range(run_start, previous))
    return "".join(parts)


def _range(start: int, end: int) -> str:
    return re.escape(chr(start)) if start == end else f"{re.escape(chr(start))}-{re.escape(chr(end))}"


@functools.cache
def _token_pattern() -> re.Pattern[str]:
    # Combining marks are not word characters for ``re``; collect them once (about 50 ms).
    marks = _char_class(
        code
        for code in (*range(0x20000), *range(0xE0100, 0xE01F0))
        if unicodedata.category(chr(code)) in ("Mn", "Mc", "Me")
    )
    attached = f"[{marks}{_EMOJI_MODIFIERS}]*"
    # Alternatives in order of frequency: re tries them in turn at every position.
    return re.compile(
        rf"[^\W{_UNSPACED_RANGES}](?:[^\W{_UNSPACED_RANGES}]|[{marks}])*"
        rf"|[{_UNSPACED_RANGES}]{attached}"
        rf"|[\U0001f1e6-\U0001f1ff]{{2}}"  # a flag is a pair of regional indicators
        rf"|\S{attached}(?:\u200d\S{attached})*"
    )


# The same tokens for ASCII text, several times faster than the full pattern.
_ASCII_TOKEN = re.compile(r"[A-Za-z0-9_]+|[^\sA-Za-z0-9_]")


def normalize_text(text: str, lowercase: bool = True, nfkc: bool = True) -> str:
    if nfkc:
        text = unicodedata.normalize("NFKC", text)
    if lowercase:
        text = text.lower()
    return text


def split_tokens(text: str, lowercase: bool = True, nfkc: bool = True) -> list[str]:
    """The tokens of ``text`` (before vocabulary lookup)."""
    text = normalize_text(text, lowercase, nfkc)
    return (_ASCII_TOKEN if text.isascii() else _token_pattern()).findall(text)


def read_text_file(path: str, max_bytes: int) -> tuple[str, str | None]:
    """``(text, problem)``: text files are decoded as UTF-8 (BOM allowed), with replacement.

    ``problem`` names what is wrong (too large, not UTF-8) or is None. A file over
    ``max_bytes`` is not read at all (``""`` is returned).
    """
    with open(path, "rb") as handle:
        data = handle.read(max_bytes + 1)
    if len(data) > max_bytes:
        return "", f"text file is larger than the {max_bytes}-byte cap (data.max_text_bytes); shorten it or raise the cap"
    try:
        return data.decode("utf-8-sig"), None
    except UnicodeDecodeError as exc:
        text = data.decode("utf-8-sig", errors="replace")
        return text, f"not valid UTF-8 (byte {exc.start}); decoded with replacement characters, re-save the file as UTF-8"


class Tokenizer:
    """Token ids from a vocabulary fitted on the training captions; 0 is padding, 1 unknown."""

    def __init__(self, vocabulary: list[str], max_length: int, lowercase: bool = True, nfkc: bool = True):
        if list(vocabulary[: len(SPECIAL_TOKENS)]) != list(SPECIAL_TOKENS):
            raise ValueError(f"a vocabulary must start with {SPECIAL_TOKENS}")
        self.vocabulary = list(vocabulary)
        self.max_length = max_length
        self.lowercase = lowercase
        self.nfkc = nfkc
        self._ids = {token: i for i, token in enumerate(self.vocabulary)}

    @classmethod
    def fit(
        cls,
        texts: Iterable[str],
        max_length: int,
        lowercase: bool = True,
        nfkc: bool = True,
        min_freq: int = 1,
        max_vocab: int = 20000,
    ) -> Tokenizer:
        counts: Counter[str] = Counter()
        for text in texts:
            counts.update(split_tokens(text, lowercase, nfkc))
        # Most frequent first; ties by token so that the vocabulary does not depend on input order.
        ranked = sorted((token for token, n in counts.items() if n >= min_freq), key=lambda t: (-counts[t], t))
        room = max(0, max_vocab - len(SPECIAL_TOKENS))
        return cls([*SPECIAL_TOKENS, *ranked[:room]], max_length, lowercase, nfkc)

    @property
    def vocab_size(self) -> int:
        return len(self.vocabulary)

    def tokens(self, text: str) -> list[str]:
        return split_tokens(text, self.lowercase, self.nfkc)

    def encode(self, text: str, pad: bool = False) -> torch.Tensor:
        """int64 ids, truncated to ``max_length``; padded to it with 0 when ``pad``.

        Never empty: an empty text gives one padding id, so every sample has a length.
        """
        ids = [self._ids.get(token, UNKNOWN_ID) for token in self.tokens(text)[: self.max_length]]
        if pad:
            ids += [PAD_ID] * (self.max_length - len(ids))
        return torch.tensor(ids or [PAD_ID], dtype=torch.int64)

    def decode(self, ids: Iterable[int]) -> list[str]:
        return [self.vocabulary[i] for i in ids if i != PAD_ID]

    def to_dict(self) -> dict:
        return {
            "vocabulary": self.vocabulary,
            "max_length": self.max_length,
            "lowercase": self.lowercase,
            "nfkc": self.nfkc,
        }

    @classmethod
    def from_dict(cls, data: dict) -> Tokenizer:
        return cls(data["vocabulary"], data["max_length"], data["lowercase"], data["nfkc"])
