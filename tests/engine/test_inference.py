"""Predictions on raw inputs and latency, on a tiny trained run; the engine stays Qt-free."""

import subprocess
import sys

import numpy as np
import pytest
import torch

from workbench.config import EncoderConfig
from workbench.engine.inference import (
    Predictor,
    encode_batch,
    measure_latency,
    measure_run_latency,
    raw_value,
    validation_items,
)
from workbench.engine.runs import RunRecord
from workbench.engine.trainer import Trainer
from workbench.engine.config_validation import check_config

from tiny_runs import tiny_config, write_tiny_dataset


def train_tiny_run(root, epochs: int = 1, text_encoder: str = "bag"):
    """The tiny dataset; a teacher (image + text, the given text encoder) and an image student."""
    config = tiny_config(write_tiny_dataset(root / "data"), root / "runs", epochs=epochs, teacher_epochs=0)
    text_field = next(field for field in config.teacher.fields if field != "image")
    config.teacher.encoders[text_field] = EncoderConfig(text_encoder, {})
    Trainer(check_config(config)).fit()
    return next((root / "runs").iterdir())


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return train_tiny_run(tmp_path_factory.mktemp("inference"))


def test_predict_on_raw_inputs_gives_the_runs_validation_probabilities(run_dir):
    predictor = Predictor.from_run(run_dir)
    assert set(predictor.networks) == {"teacher", "student", "baseline"}
    record = RunRecord.open(run_dir)
    arrays = record.predictions("student", record.prediction_epochs("student")[-1])
    for row, sample in enumerate(record.samples()[:4]):
        raw = {field: raw_value(predictor.preprocessing, field, value) for field, value in sample["values"].items()}
        probabilities = predictor.predict(raw)
        for net in ("teacher", "student", "baseline"):
            assert np.allclose(probabilities[net], arrays[f"{net}_probs"][row], atol=1e-5), net


def test_a_network_missing_an_input_is_left_out(run_dir):
    predictor = Predictor.from_run(run_dir)
    image = RunRecord.open(run_dir).samples()[0]["values"]["image"]
    text_field = next(field for field in predictor.fields("teacher") if field != "image")
    assert set(predictor.predict({"image": image})) == {"student", "baseline"}  # the teacher also reads text
    assert predictor.missing_fields("teacher", {"image": image}) == [text_field]
    probabilities = predictor.predict({"image": image, text_field: ""})  # an empty text is still a text
    assert set(probabilities) == {"teacher", "student", "baseline"}
    assert predictor.predict({text_field: "a red ball"}) == {}
    assert probabilities["student"].shape == (len(predictor.class_names),)
    assert probabilities["student"].sum() == pytest.approx(1.0, abs=1e-5)


def test_latency_is_a_positive_median_per_sample(run_dir):
    threads_before = torch.get_num_threads()
    latency = measure_run_latency(run_dir, samples=8, repeats=3)
    assert set(latency) == {"teacher", "student", "baseline"}
    assert all(0 < spread.low <= spread.median <= spread.high < 1 for spread in latency.values())
    assert torch.get_num_threads() == threads_before  # measured on one thread, then given back
    predictor = Predictor.from_run(run_dir, nets=("student",))
    items, labels = validation_items(run_dir, predictor.preprocessing, predictor.fields("student"), limit=4)
    batch = encode_batch(predictor.preprocessing, predictor.fields("student"), items)
    assert batch["image"].shape[0] == 4 and labels.shape == (4,)
    assert measure_latency(predictor.networks["student"], batch, repeats=2) > 0
    assert torch.is_grad_enabled()  # measuring left autograd as it was


def test_engine_modules_import_without_qt():
    code = ("import sys, workbench.engine.inference, workbench.engine.export; "
            "print(sorted(m for m in sys.modules if m.startswith(('PySide6', 'pyqtgraph'))))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
