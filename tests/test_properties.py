"""Property-based tests (hypothesis): any input to the config, the manifest parser and the tokenizer
gives a valid result or the one error meant for users, never another exception.

Bounded for CI: a fixed number of examples each, no deadline per example (the machine may be busy).
"""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from workbench.config import ExperimentConfig, apply_overrides, config_from_dict, config_to_dict
from workbench.data.scan import scan_dataset
from workbench.data.text import PAD_ID, Tokenizer, split_tokens
from workbench.engine.config_validation import check_config, validate_config
from workbench.errors import ConfigError

BOUNDED = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _leaf_keys(table: dict, prefix: str = "") -> list[str]:
    keys = []
    for name, value in table.items():
        key = f"{prefix}.{name}" if prefix else name
        keys += _leaf_keys(value, key) if isinstance(value, dict) and value else [key]
    return keys


# A complete config with every section, encoder and loss term spelled out (the default dataset-free one,
# with one encoder per network so encoder params are fuzzed too).
BASE = config_to_dict(ExperimentConfig())
BASE["teacher"]["encoders"] = {"image": {"type": "cnn", "width": 16, "depth": 3}}
BASE["student"]["encoders"] = {"text": {"type": "transformer", "dim": 64, "layers": 2, "heads": 4}}
KEYS = _leaf_keys(BASE)

# Every value TOML can hold: integers of any size, floats with NaN and infinities, text, booleans,
# dates and times, and arrays and tables of those.
toml_scalars = st.one_of(
    st.integers(), st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=40), st.booleans(),
    st.dates(), st.datetimes(), st.times(),
    st.sampled_from([2**63 - 1, -(2**63), 0, -1, 1e308, math.nan, "", "/dev/null", "/"]),
)
toml_values = st.recursive(toml_scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=8), inner, max_size=3), max_leaves=8)


def _with(data: dict, key: str, value: object) -> dict:
    copy = _deep_copy(data)
    node = copy
    *path, last = key.split(".")
    for part in path:
        node = node[part]
    node[last] = value
    return copy


def _deep_copy(value):
    if isinstance(value, dict):
        return {k: _deep_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_deep_copy(v) for v in value]
    return value


@BOUNDED
@given(changes=st.lists(st.tuples(st.sampled_from(KEYS), toml_values), min_size=1, max_size=3))
def test_any_toml_value_for_any_key_is_valid_or_one_config_error(changes):
    data = BASE
    for key, value in changes:
        data = _with(data, key, value)
    try:
        cfg = config_from_dict(data)
        check_config(cfg)
    except ConfigError as error:
        assert str(error)  # one message; its key is a dotted path or empty for whole-file problems
        assert isinstance(error.key, str)


@BOUNDED
@given(key=st.sampled_from(KEYS + ["train.epoch", "a.b.c", ".", ""]), raw=st.text(max_size=30))
def test_any_set_override_is_applied_or_one_config_error(key, raw):
    try:
        cfg = apply_overrides(ExperimentConfig(), [f"{key}={raw}"])
        validate_config(cfg)
    except ConfigError as error:
        assert str(error)


manifest_cells = st.one_of(st.text(max_size=20), st.sampled_from(["a.png", "../x.png", "/etc/passwd", "b.wav",
                                                                  "c.npy", "d.txt", "", "train", "val", "x" * 300]))


@settings(max_examples=60, deadline=None)
@given(header=st.lists(st.sampled_from(["label", "split", "image", "text", "audio", "", "label", "x,y"]),
                       max_size=5),
       rows=st.lists(st.lists(manifest_cells, max_size=6), max_size=8), raw=st.text(max_size=200),
       jsonl=st.booleans())
def test_any_manifest_is_scanned_into_samples_and_problems_without_raising(header, rows, raw, jsonl):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        if jsonl:
            lines = [json.dumps(dict(zip(header, row))) for row in rows] + [raw]
            (root / "manifest.jsonl").write_text("\n".join(lines), encoding="utf-8", errors="surrogateescape")
        else:
            lines = [",".join(header)] + [",".join(row) for row in rows] + [raw]
            (root / "manifest.csv").write_text("\n".join(lines), encoding="utf-8", errors="surrogateescape")
        index = scan_dataset(root, ExperimentConfig().data)
        assert index.layout == "manifest"
        for sample in index.samples:
            assert sample.label and set(sample.values) <= set(index.fields)
        for problem in index.problems:
            assert problem.severity in ("error", "warning") and problem.reason


@BOUNDED
@given(texts=st.lists(st.text(), max_size=6), text=st.text(), max_length=st.integers(1, 64),
       lowercase=st.booleans(), nfkc=st.booleans(), max_vocab=st.integers(2, 50))
def test_the_tokenizer_takes_any_unicode(texts, text, max_length, lowercase, nfkc, max_vocab):
    tokenizer = Tokenizer.fit(texts, max_length, lowercase, nfkc, max_vocab=max_vocab)
    assert tokenizer.vocab_size <= max(max_vocab, 2)
    ids = tokenizer.encode(text)
    assert 1 <= ids.numel() <= max_length
    assert int(ids.min()) >= 0 and int(ids.max()) < tokenizer.vocab_size
    padded = tokenizer.encode(text, pad=True)
    assert padded.numel() == max_length and (padded[ids.numel():] == PAD_ID).all()
    assert all(token and not token.isspace() for token in split_tokens(text, lowercase, nfkc))
    assert Tokenizer.from_dict(tokenizer.to_dict()).encode(text).tolist() == ids.tolist()
