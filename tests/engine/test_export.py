"""Export round trip: the exported model gives the checkpoint's outputs on the validation samples."""

import json

import numpy as np
import pytest
import torch

from workbench.engine.export import export_run
from workbench.engine.inference import encode_batch, validation_items
from workbench.engine.runs import RunRecord, load_network
from workbench.errors import WorkbenchError

from test_inference import train_tiny_run

# torch 2.9+ deprecates TorchScript (torch.jit.load warns); the format still loads and runs.
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:DeprecationWarning")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return train_tiny_run(tmp_path_factory.mktemp("export"))


def checkpoint_logits(run_dir, net):
    network, preprocessing, _, _ = load_network(run_dir, net, "best")
    items, labels = validation_items(run_dir, preprocessing, list(network.fields))
    batch = encode_batch(preprocessing, list(network.fields), items, pad_text=True)
    with torch.no_grad():
        logits = network(batch).logits.numpy()
    return [batch[field] for field in network.fields], logits, labels


@pytest.mark.parametrize("net", ["student", "teacher"])
def test_torchscript_round_trip_matches_the_checkpoint(run_dir, tmp_path, net):
    out = export_run(run_dir, "torchscript", net, tmp_path / f"{net}.pt")
    assert out == tmp_path / f"{net}.pt"
    inputs, expected, labels = checkpoint_logits(run_dir, net)
    model = torch.jit.load(str(out))
    with torch.no_grad():
        logits, probabilities = (tensor.numpy() for tensor in model(*inputs))
        first_three = model(*(tensor[:3] for tensor in inputs))[0].numpy()  # another batch size than traced
    assert np.allclose(first_three, expected[:3], atol=1e-4)
    assert logits.shape == (len(labels), expected.shape[1])  # every validation sample, not just the traced batch
    assert np.allclose(logits, expected, atol=1e-4)
    assert np.allclose(probabilities.sum(1), 1.0, atol=1e-5)
    # ... and the same probabilities the run saved for its best validation epoch.
    record = RunRecord.open(run_dir)
    stage = "teacher" if net == "teacher" else "student"
    saved = record.predictions(stage, record.prediction_epochs(stage)[-1])[f"{net}_probs"]
    assert np.allclose(probabilities, saved, atol=1e-5)

    sidecar = json.loads(out.with_suffix(".json").read_text(encoding="utf-8"))
    assert sidecar["labels"] == record.summary["class_names"]
    assert sidecar["fields"] == [field["name"] for field in sidecar["inputs"]]
    assert set(sidecar["preprocessing"]["fields"]) == set(sidecar["fields"])
    assert sidecar["verification"]["max_abs_logit_difference"] < 1e-3
    if net == "teacher":  # the teacher reads the caption: its vocabulary travels with it
        text_field = next(field["name"] for field in sidecar["inputs"] if field["kind"] == "text")
        assert sidecar["vocabulary"][text_field][:2] == ["<pad>", "<unk>"]


def test_default_output_is_inside_the_run_folder(run_dir):
    out = export_run(run_dir, "torchscript", "student", None)
    assert out == run_dir / "export" / "student.pt"
    assert out.with_suffix(".json").is_file()


def test_onnx_round_trip_matches_the_checkpoint(run_dir, tmp_path):
    pytest.importorskip("onnx")
    pytest.importorskip("onnxscript")
    onnxruntime = pytest.importorskip("onnxruntime")
    out = export_run(run_dir, "onnx", "student", tmp_path / "student.onnx")
    inputs, expected, _ = checkpoint_logits(run_dir, "student")
    session = onnxruntime.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    names = [node.name for node in session.get_inputs()]
    logits = session.run(["logits"], dict(zip(names, (tensor.numpy() for tensor in inputs))))[0]
    assert np.allclose(logits, expected, atol=1e-4)
    assert json.loads(out.with_suffix(".json").read_text(encoding="utf-8"))["format"] == "onnx"


def test_user_mistakes_are_one_clear_error(run_dir, tmp_path, monkeypatch):
    with pytest.raises(WorkbenchError, match="format"):
        export_run(run_dir, "tflite", "student", tmp_path / "x")
    with pytest.raises(WorkbenchError, match="network"):
        export_run(run_dir, "torchscript", "assistant", tmp_path / "x")
    with pytest.raises(WorkbenchError, match="Run folder not found"):
        export_run(tmp_path / "nowhere", "torchscript", "student", tmp_path / "x")
    # Without the optional extra, ONNX export says what to install.
    monkeypatch.setattr("workbench.engine.export._has", lambda module: False)
    with pytest.raises(WorkbenchError, match=r"workbench\[onnx\]"):
        export_run(run_dir, "onnx", "student", tmp_path / "x.onnx")


def test_onnx_refuses_the_gru_encoder_with_a_way_out(tmp_path):
    pytest.importorskip("onnx")
    pytest.importorskip("onnxscript")
    run_dir = train_tiny_run(tmp_path, text_encoder="gru")
    with pytest.raises(WorkbenchError, match="torchscript"):
        export_run(run_dir, "onnx", "teacher", tmp_path / "teacher.onnx")
    out = export_run(run_dir, "torchscript", "teacher", tmp_path / "teacher.pt")  # the way out works
    assert json.loads(out.with_suffix(".json").read_text(encoding="utf-8"))["verification"][
        "max_abs_logit_difference"] < 1e-3
