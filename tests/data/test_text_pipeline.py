"""The tokenizer: any script, normalisation options, truncation, saved vocabulary."""

from __future__ import annotations

import json

import pytest
import torch
from data_builders import make_cfg

from workbench.data import Tokenizer, check_dataset
from workbench.data.text import PAD_ID, UNKNOWN_ID, split_tokens


@pytest.mark.parametrize(
    ("text", "tokens"),
    [
        ("A red circle, please!", ["a", "red", "circle", ",", "please", "!"]),
        ("一只红色的圆形", ["一", "只", "红", "色", "的", "圆", "形"]),
        ("東京タワー", ["東", "京", "タ", "ワ", "ー"]),
        ("สวัสดี", ["ส", "วั", "ส", "ดี"]),
        ("नमस्ते दुनिया", ["नमस्ते", "दुनिया"]),
        ("Tiếng Việt", ["tiếng", "việt"]),
        ("mixed 中文 and English", ["mixed", "中", "文", "and", "english"]),
        ("ok 👍🏽 👨‍👩‍👧 🇯🇵!", ["ok", "👍🏽", "👨\u200d👩\u200d👧", "🇯🇵", "!"]),
        ("ＡＢＣ１２３", ["abc123"]),
    ],
)
def test_split_tokens_handles_any_script(text, tokens):
    assert split_tokens(text) == tokens


def test_normalisation_options():
    assert split_tokens("ＡＢＣ Déjà", lowercase=False, nfkc=False) == ["ＡＢＣ", "Déjà"]
    assert split_tokens("ＡＢＣ Déjà", lowercase=False, nfkc=True) == ["ABC", "Déjà"]
    assert split_tokens("ＡＢＣ Déjà", lowercase=True, nfkc=True) == ["abc", "déjà"]


def test_fit_encode_pad_truncate_and_unknown():
    tokenizer = Tokenizer.fit(["red circle", "red square", "blue circle"], max_length=3)
    assert tokenizer.vocabulary == ["<pad>", "<unk>", "circle", "red", "blue", "square"]
    ids = tokenizer.encode("Red triangle circle red red")
    assert ids.dtype == torch.int64 and ids.tolist() == [3, UNKNOWN_ID, 2]
    assert tokenizer.encode("red", pad=True).tolist() == [3, PAD_ID, PAD_ID]
    assert tokenizer.encode("").tolist() == [PAD_ID]


def test_min_freq_and_max_vocab():
    texts = ["a a a b b c"]
    assert Tokenizer.fit(texts, 8, min_freq=2).vocabulary == ["<pad>", "<unk>", "a", "b"]
    assert Tokenizer.fit(texts, 8, max_vocab=3).vocabulary == ["<pad>", "<unk>", "a"]


def test_vocabulary_round_trips_through_json():
    tokenizer = Tokenizer.fit(["红色的圆形 red", "蓝色 square 😀"], max_length=6, lowercase=False)
    loaded = Tokenizer.from_dict(json.loads(json.dumps(tokenizer.to_dict(), ensure_ascii=False)))
    for text in ["红色 square", "新的 text 😀"]:
        assert torch.equal(loaded.encode(text), tokenizer.encode(text))


def test_text_stats_count_truncated_captions(tmp_path):
    (tmp_path / "manifest.csv").write_text(
        "label,caption\na,one two\na,one two three four five six\nb,三个字\nb,这是一个很长的中文句子\n", encoding="utf-8"
    )
    report = check_dataset(tmp_path, make_cfg(tmp_path, text_max_length=5), seed=0)
    stats = report.text_stats["caption"]
    assert stats["count"] == 4 and stats["tokens_min"] == 2 and stats["tokens_max"] == 11
    assert stats["truncated"] == 2
    assert "2 longer than 5 tokens (truncated)" in report.format_text()
