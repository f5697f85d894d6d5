"""Hugging Face text encoders, offline: a tiny randomly initialised BERT and a tokenizer made from a word list
(saved to a local folder, no download) read the caption field with their own tokenizer; a run trains with it,
keeps a copy of the tokenizer, predicts the same after the model folder is gone, and exports."""

from __future__ import annotations

import json
import shutil
import sys

import numpy as np
import pytest
import torch

from workbench.cli import main
from workbench.config import EncoderConfig, config_to_toml
from workbench.data.hf_tokenizer import ID_OFFSET, HuggingFaceTextProcessor, TokenizerChoice
from workbench.engine.config_validation import check_config
from workbench.engine.export import export_run
from workbench.engine.hf_text import HuggingFaceTextEncoder, field_tokenizers
from workbench.engine.hooks import Callback
from workbench.engine.inference import Predictor, raw_value
from workbench.engine.models import parameter_groups
from workbench.engine.runs import RunRecord
from workbench.engine.trainer import Trainer
from workbench.errors import ConfigError

from test_trainer import Recorder, net_metrics, tiny_dataset  # noqa: F401 (a fixture)
from tiny_runs import save_tiny_bert, tiny_config

transformers = pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def tiny_bert(tiny_dataset, tmp_path_factory):
    """A 1-layer BERT of width 32 and a word-level tokenizer of the sample's caption words, in a local folder."""
    return save_tiny_bert(tiny_dataset, tmp_path_factory.mktemp("tiny-bert"))


def test_the_models_tokenizer_reads_the_field_and_padding_is_masked(tiny_bert):
    processor = HuggingFaceTextProcessor.create(TokenizerChoice(str(tiny_bert)), max_length=8)
    tokenizer = transformers.AutoTokenizer.from_pretrained(tiny_bert)
    ids = processor.encode("a red circle on a checkered backdrop behind it")
    assert ids.tolist() == [i + ID_OFFSET for i in tokenizer("a red circle on a checkered backdrop behind it",
                                                             truncation=True, max_length=8)["input_ids"]]
    assert len(ids) == 8 and ids[0] == tokenizer.cls_token_id + ID_OFFSET  # truncated, special tokens kept
    spec = processor.spec()
    assert spec == {"kind": "text", "vocab_size": len(tokenizer) + 1, "max_length": 8, "input_shape": [8],
                    "dtype": "int64", "tokenizer": str(tiny_bert)}
    for pooling in ("cls", "mean"):
        encoder = HuggingFaceTextEncoder(spec, model=str(tiny_bert), pretrained=True, pooling=pooling).eval()
        short, long = processor.encode("a circle"), processor.encode("a dot behind a square")
        batch = torch.nn.utils.rnn.pad_sequence([short, long], batch_first=True)  # what collate_batch does
        with torch.no_grad():
            together, alone = encoder(batch), encoder(short[None])
        assert together.shape == (2, 32) and encoder.out_dim == 32
        assert torch.allclose(together[0], alone[0], atol=1e-5), pooling  # padding changes nothing


def test_a_hub_model_in_the_cache_loads_without_the_network_and_its_revision_is_kept(tiny_bert, tmp_path, monkeypatch):
    import socket

    import huggingface_hub.constants

    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "hub" / "models--tiny-org--tiny-bert"
    shutil.copytree(tiny_bert, repo / "snapshots" / commit)  # the layout huggingface_hub writes
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    connections = []

    def no_network(*args, **kwargs):
        connections.append(args)
        raise OSError("no network in this test")

    # huggingface_hub fetches a list of AI-agent names once per process for its user-agent header, even to read
    # its cache; that is not the model's download, so it is taken as already fetched (empty).
    from huggingface_hub.utils import _detect_agent

    monkeypatch.setattr(_detect_agent, "_registry", {"standardEnvVars": [], "harnesses": {}}, raising=False)
    monkeypatch.setattr(socket, "getaddrinfo", no_network)  # a name lookup comes before any connection
    monkeypatch.setattr(socket.socket, "connect", no_network)
    processor = HuggingFaceTextProcessor.create(TokenizerChoice("tiny-org/tiny-bert"), max_length=8)
    assert processor.revision == commit and processor.to_dict()["hf_tokenizer"]["revision"] == commit
    encoder = HuggingFaceTextEncoder(processor.spec(), model="tiny-org/tiny-bert", pretrained=True)
    saved = transformers.AutoModel.from_pretrained(tiny_bert).state_dict()
    assert all(torch.equal(encoder.backbone.state_dict()[key], value) for key, value in saved.items())
    assert connections == []  # the cache answered first: no call to the hub


class _Snapshot(Callback):
    def __init__(self):
        self.trainer = None
        self.before: dict[str, torch.Tensor] = {}

    def on_fit_start(self, payload):
        encoder = self.trainer.teacher.encoders["text"]
        self.before = {key: value.detach().clone() for key, value in encoder.state_dict().items()}


@pytest.fixture(scope="module")
def frozen_run(tiny_dataset, tiny_bert, tmp_path_factory):
    """A run whose teacher reads the captions with the frozen tiny BERT; the model folder is removed afterwards."""
    model = tmp_path_factory.mktemp("model") / "bert"
    shutil.copytree(tiny_bert, model)
    cfg = tiny_config(tiny_dataset, tmp_path_factory.mktemp("runs"), epochs=1)
    cfg.teacher.encoders["text"] = EncoderConfig("hf_text", {"model": str(model), "pretrained": True,
                                                             "pooling": "mean"}, train="frozen")
    snapshot = _Snapshot()
    trainer = snapshot.trainer = Trainer(check_config(cfg), callbacks=[snapshot])
    summary = trainer.fit()
    assert summary["status"] == "finished" and summary["teacher"]["val_accuracy"] is not None
    shutil.rmtree(model)  # from now on only the run folder's copy of the tokenizer exists
    return trainer, snapshot


def test_a_frozen_bert_teacher_keeps_its_weights_and_its_run_keeps_the_tokenizer(frozen_run):
    trainer, snapshot = frozen_run
    after = trainer.teacher.encoders["text"].state_dict()
    assert snapshot.before and all(torch.equal(value, after[key]) for key, value in snapshot.before.items())
    saved = json.loads((trainer.run_dir / "preprocessing.json").read_text())["fields"]["text"]["state"]
    assert saved["hf_tokenizer"]["files"] == "tokenizers/text" and "tokenizer" not in saved
    assert (trainer.run_dir / "tokenizers" / "text" / "tokenizer_config.json").is_file()


def test_the_reloaded_run_predicts_its_validation_probabilities(frozen_run):
    trainer, _ = frozen_run
    predictor = Predictor.from_run(trainer.run_dir)  # the model folder is gone: tokenizer and weights from the run
    record = RunRecord.open(trainer.run_dir)
    arrays = record.predictions("student", record.prediction_epochs("student")[-1])
    for row, sample in enumerate(record.samples()[:4]):
        raw = {field: raw_value(predictor.preprocessing, field, value) for field, value in sample["values"].items()}
        probabilities = predictor.predict(raw)
        for net in ("teacher", "student"):
            assert np.allclose(probabilities[net], arrays[f"{net}_probs"][row], atol=1e-5), net


def test_the_frozen_bert_teacher_is_reused_from_its_run_alone(frozen_run, tiny_dataset, tmp_path):
    trainer, _ = frozen_run
    cfg = tiny_config(tiny_dataset, tmp_path / "runs", epochs=1)
    cfg.teacher.checkpoint = str(trainer.run_dir)  # its model folder is gone: config and tokenizer from the run
    reuse = Trainer(check_config(cfg))
    assert reuse.fit()["status"] == "finished"
    params = reuse.cfg.teacher.encoders["text"].params
    assert params["model"] == str(trainer.run_dir / "architectures" / "teacher-text") and not params["pretrained"]
    assert params["tokenizer"] == str(trainer.run_dir / "tokenizers" / "text")
    for key, value in trainer.teacher.state_dict().items():
        assert torch.equal(value, reuse.teacher.state_dict()[key]), key


def test_an_hf_text_teacher_exports_with_its_tokenizer(frozen_run, tmp_path):
    # TorchScript only: exporting the same BERT to ONNX works too (checked against the checkpoint by export_run),
    # but takes about 30 s here, more than every other test of this file together.
    trainer, _ = frozen_run
    out = export_run(trainer.run_dir, "torchscript", net="teacher", out=tmp_path / "teacher.pt")
    meta = json.loads(out.with_suffix(".json").read_text())
    assert meta["tokenizers"]["text"]["id_offset"] == ID_OFFSET and "text" not in meta["vocabulary"]
    assert (tmp_path / meta["tokenizers"]["text"]["files"] / "tokenizer_config.json").is_file()
    assert meta["verification"]["max_abs_logit_difference"] <= 1e-3


def test_a_stopped_bert_run_resumes_from_its_own_copies_to_the_uninterrupted_result(frozen_run, tiny_dataset,
                                                                                     tiny_bert, tmp_path):
    trainer, _ = frozen_run  # the same config, run without a stop
    model = tmp_path / "bert"
    shutil.copytree(tiny_bert, model)
    cfg = tiny_config(tiny_dataset, tmp_path / "runs", epochs=1)
    cfg.teacher.encoders["text"] = EncoderConfig("hf_text", {"model": str(model), "pretrained": True,
                                                             "pooling": "mean"}, train="frozen")
    recorder = Recorder(stop_at=("teacher", 1, 1))
    stopped = recorder.trainer = Trainer(check_config(cfg), callbacks=[recorder])
    assert stopped.fit()["status"] == "stopped"
    shutil.rmtree(model)  # resuming reads the run's copies of the model config and the tokenizer
    resumed = Trainer.resume(stopped.run_dir).fit()
    assert resumed["status"] == "finished"
    assert net_metrics(resumed) == net_metrics(RunRecord.open(trainer.run_dir).summary)
    saved = json.loads((stopped.run_dir / "preprocessing.json").read_text())["fields"]["text"]["state"]
    assert saved["hf_tokenizer"]["source"] == str(model)  # still the configured model, loaded from the copy
    assert RunRecord.open(stopped.run_dir).config.teacher.encoders["text"].params["model"] == str(model)


def test_a_fine_tuned_bert_teacher_and_a_bag_student_share_the_wordpieces(tiny_dataset, tiny_bert, tmp_path):
    cfg = tiny_config(tiny_dataset, tmp_path / "runs", epochs=1)
    cfg.teacher.encoders["text"] = EncoderConfig("hf_text", {"model": str(tiny_bert)}, lr_scale=0.1)
    cfg.student.fields = ["text"]  # text-to-text: the student's bag reads the BERT tokenizer's ids
    cfg.student.encoders = {"text": EncoderConfig("bag", {"dim": 8})}
    groups = []

    class TeacherGroups(Callback):
        def on_fit_start(self, payload):
            groups.extend(group["lr_scale"] for group in parameter_groups([trainer.teacher]))

    trainer = Trainer(check_config(cfg), callbacks=[TeacherGroups()])
    summary = trainer.fit()
    assert summary["status"] == "finished" and summary["student"]["val_accuracy"] is not None
    tokens = len(transformers.AutoTokenizer.from_pretrained(tiny_bert))
    assert trainer.student.encoders["text"].embedding.num_embeddings == tokens + ID_OFFSET
    assert groups == [1.0, 0.1]  # the BERT has its own learning rate


def test_two_tokenizers_for_one_field_are_refused_with_the_fix(tiny_dataset, tiny_bert, tmp_path):
    cfg = tiny_config(tiny_dataset, tmp_path / "runs")
    cfg.teacher.encoders["text"] = EncoderConfig("hf_text", {"model": "bert-base-uncased"})
    cfg.student.fields = ["text"]
    cfg.student.encoders = {"text": EncoderConfig("hf_text", {"model": str(tiny_bert)})}
    with pytest.raises(ConfigError, match="different tokenizers") as caught:
        field_tokenizers(cfg)
    assert caught.value.key == "student.encoders.text.tokenizer" and "tokenizer = 'bert-base-uncased'" in str(caught.value)
    cfg.student.encoders["text"].params["tokenizer"] = "bert-base-uncased"
    assert field_tokenizers(cfg) == {"text": TokenizerChoice("bert-base-uncased", "teacher.encoders.text.model")}


def _train_error(dataset, tmp_path, capsys, model: str) -> list[str]:
    """What `workbench train` prints on stderr for the tiny config with an hf_text teacher of ``model``; exit 2."""
    cfg = tiny_config(dataset, tmp_path / "runs", epochs=1)
    cfg.teacher.encoders["text"] = EncoderConfig("hf_text", {"model": model})
    path = tmp_path / "exp.toml"
    path.write_text(config_to_toml(cfg), encoding="utf-8")
    assert main(["train", str(path)]) == 2
    return capsys.readouterr().err.strip().splitlines()


def test_an_unreachable_model_is_one_message_naming_it_and_the_fix(tiny_dataset, tmp_path, monkeypatch, capsys):
    spec = {"kind": "text", "vocab_size": 30, "max_length": 8}
    with pytest.raises(ConfigError, match="no folder .*nothing-here for the model config"):
        HuggingFaceTextEncoder(spec, model=str(tmp_path / "nothing-here"))
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)  # no network: fail at once
    err = _train_error(tiny_dataset, tmp_path, capsys, "no-such-org/no-such-bert")
    assert len(err) == 1 and "'no-such-org/no-such-bert'" in err[0] and "not in the local cache" in err[0]
    assert "local folder" in err[0] and err[0].startswith("error: teacher.encoders.text.model: ")


def test_without_the_extra_the_error_names_the_install(tiny_dataset, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "transformers", None)  # import transformers now fails
    err = _train_error(tiny_dataset, tmp_path, capsys, "bert-base-uncased")
    assert len(err) == 1 and "pip install 'workbench[hf]'" in err[0]
