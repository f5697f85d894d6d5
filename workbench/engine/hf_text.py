"""Hugging Face transformers text encoders (BERT, MiniLM, RoBERTa, ...) with their own tokenizer.

``hf_text`` is an optional extra (``pip install 'workbench[hf]'``). A field that an ``hf_text``
encoder reads, in the teacher or the student, is tokenized by that model's tokenizer instead of
the workbench's vocabulary (``field_tokenizers``; ``data/hf_tokenizer.py``), for every network
that reads it: a ``bag`` or ``gru`` student on the same field reads the same wordpiece ids. Two
``hf_text`` encoders of one field must share a tokenizer (the ``tokenizer`` parameter names
another model's, for models of one family such as BERT-base and a small BERT).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import torch
from torch import nn

from workbench.atomic import atomic_write_text
from workbench.config import CONFIGURED_NETS
from workbench.data.hf_tokenizer import (
    ID_OFFSET,
    TOKENIZERS_FOLDER,
    HuggingFaceTextProcessor,
    TokenizerChoice,
    folder_name,
)
from workbench.data.preprocessing import Preprocessing
from workbench.data.text import PAD_ID
from workbench.engine.backbones import hugging_face_model
from workbench.engine.encoders import masked_mean
from workbench.registry import encoder_class, encoder_params, register_encoder
from workbench.errors import ConfigError
from workbench.extras import import_extra

POOLINGS = ("cls", "mean")
ARCHITECTURES_FOLDER = "architectures"  # in a run folder: <net>-<field>/config.json of each hf_text model


@register_encoder("hf_text", modality="text")
class HuggingFaceTextEncoder(nn.Module):
    """A Hugging Face transformers text model with its tokenizer: ``pip install 'workbench[hf]'``.

    ``model`` is a hub name or a local folder (``config.json`` and the tokenizer's files; with
    ``pretrained = true`` the weights too); ``weights = "PATH"`` loads a local weights file
    instead. ``pooling`` "cls" takes the first token's last hidden state, "mean" the mean over
    the attention mask. ``tokenizer`` (default: the model's own) names the model or folder whose
    tokenizer reads the field.
    """

    param_options = {  # the Model panel's help and choices
        "model": {"help": "Hugging Face hub name (e.g. bert-base-uncased) or a local folder saved with "
                          "save_pretrained."},
        "pretrained": {"help": "Load the model's weights (from the folder, the cache or the hub); otherwise random."},
        "weights": {"help": "A local weights file (.safetensors or a torch state dict) loaded instead."},
        "pooling": {"help": "cls: the first token's output; mean: the mean over the text's tokens.",
                    "choices": POOLINGS},
        "tokenizer": {"help": "Whose tokenizer reads the field (empty: the model's own); another model of the same "
                              "family shares it."},
    }

    def __init__(self, spec: dict[str, Any], *, model: str = "bert-base-uncased", pretrained: bool = False,
                 weights: str = "", pooling: str = "cls", tokenizer: str = ""):
        super().__init__()
        if pooling not in POOLINGS:
            raise ConfigError(f"pooling must be one of {', '.join(POOLINGS)}, got {pooling!r}", "pooling")
        backbone = hugging_face_model(import_extra("transformers", "hf"), model, pretrained, weights)
        config = backbone.config
        _check_fits(config, spec, model)
        self.backbone = backbone
        self.pooling = pooling
        self.out_dim = config.hidden_size

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        attention = tokens != PAD_ID
        ids = (tokens - ID_OFFSET).clamp_min(0)  # padding becomes id 0, masked out
        hidden = self.backbone(input_ids=ids, attention_mask=attention.long()).last_hidden_state
        if self.pooling == "cls":
            return hidden[:, 0]
        return masked_mean(hidden, ~attention)

    @classmethod
    def tokenizer_source(cls, params: dict[str, Any]) -> str:
        """The hub name or folder whose tokenizer reads this encoder's field."""
        return params.get("tokenizer") or params.get("model") or encoder_params("hf_text")["model"]


def _check_fits(config: Any, spec: dict[str, Any], model: str) -> None:
    """The field's ids and length must fit the model's embeddings (a tokenizer of another model may not)."""
    positions = getattr(config, "max_position_embeddings", None)
    if isinstance(positions, int) and spec["max_length"] > positions:
        raise ConfigError(f"texts of {spec['max_length']} tokens (data.text_max_length) are longer than the "
                          f"{positions} positions of {model!r}: lower data.text_max_length", "model")
    source = spec.get("tokenizer")
    vocabulary = getattr(config, "vocab_size", None)
    if source is None or not isinstance(vocabulary, int):
        return  # a parameter count before the data is read (the Model panel): the vocabulary is not known yet
    if spec["vocab_size"] - ID_OFFSET > vocabulary:
        raise ConfigError(f"the field's tokenizer ({source!r}, {spec['vocab_size'] - ID_OFFSET} tokens) has ids beyond "
                          f"the {vocabulary} embeddings of {model!r}: use the model's own tokenizer", "tokenizer")


def field_tokenizers(cfg: Any) -> dict[str, TokenizerChoice]:
    """Text fields to tokenize with a Hugging Face tokenizer: field -> its hub name or folder and config key.

    A field gets one if the teacher's or the student's encoder of it declares ``tokenizer_source``
    (``hf_text``). Two encoders of one field that name different tokenizers are a ConfigError:
    one field has one tokenization.
    """
    chosen: dict[str, tuple[str, TokenizerChoice]] = {}
    for net_name in CONFIGURED_NETS:
        net = getattr(cfg, net_name)
        for field in net.fields:
            encoder = net.encoders.get(field)
            key = f"{net_name}.encoders.{field}"
            cls = encoder_class(encoder.type, f"{key}.type") if encoder is not None else None
            if cls is None or not hasattr(cls, "tokenizer_source"):
                continue
            source = cls.tokenizer_source(encoder.params)
            if field in chosen and chosen[field][1].source != source:
                other, other_source = chosen[field][0], chosen[field][1].source
                raise ConfigError(
                    f"the {other}'s and the {net_name}'s encoders of text field {field!r} use different tokenizers "
                    f"({other_source!r} and {source!r}), and a field is tokenized one way for both networks: set "
                    f"{key}.tokenizer = {other_source!r} (models of one family share a vocabulary), or give both "
                    "the same model", f"{key}.tokenizer")
            param = "tokenizer" if encoder.params.get("tokenizer") else "model"
            chosen.setdefault(field, (net_name, TokenizerChoice(source, f"{key}.{param}")))
    return {field: choice for field, (_, choice) in chosen.items()}


def saved_tokenizers(choices: dict[str, TokenizerChoice], run_dir: Path) -> dict[str, TokenizerChoice]:
    """A resumed run's ``choices`` loading the run's copies of their tokenizers (the same files, so the same ids),
    with the revision it recorded: resuming needs neither the model's folder nor the cache."""
    path = Path(run_dir) / "preprocessing.json"
    if not path.is_file():  # killed before its data was prepared
        return choices
    saved = Preprocessing.load(path).processors
    resumed = dict(choices)
    for field, choice in choices.items():
        processor = saved.get(field)
        if (isinstance(processor, HuggingFaceTextProcessor) and processor.source == choice.source
                and processor.folder is not None and processor.folder.is_dir()):
            resumed[field] = dataclasses.replace(choice, saved=str(processor.folder), revision=processor.revision)
    return resumed


def with_tokenizers(cfg: Any, input_specs: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """``input_specs`` (estimated with the workbench's vocabulary, ``describe_inputs``) with each field that an
    ``hf_text`` encoder reads described by its tokenizer, as training will: what parameter counts need."""
    specs = dict(input_specs)
    for field, choice in field_tokenizers(cfg).items():
        if field in specs:
            specs[field] = HuggingFaceTextProcessor.create(choice, cfg.data.text_max_length).spec()
    return specs


def save_architectures(run_dir: Path, networks: dict[str, nn.Module]) -> None:
    """Each ``hf_text`` model's config in ``<run>/architectures/<net>-<field>/``: with the checkpoint (the weights)
    and the run's copy of the tokenizer, the run rebuilds its networks offline (``offline_encoders``)."""
    for net, network in networks.items():
        for field, encoder in network.encoders.items():
            if isinstance(encoder, HuggingFaceTextEncoder):
                folder = Path(run_dir) / ARCHITECTURES_FOLDER / f"{net}-{folder_name(field)}"
                folder.mkdir(parents=True, exist_ok=True)
                atomic_write_text(folder / "config.json", encoder.backbone.config.to_json_string())


def offline_encoders(net_cfg: Any, run_dir: Path, net: str, weights_restored: bool = True) -> Any:
    """``net_cfg`` as the run saved it: each ``hf_text`` model built from the run's copy of its config, not
    loaded pretrained (the checkpoint holds the weights), its field read with the run's copy of the tokenizer.
    Runs saved without those copies are returned as they are. ``weights_restored`` False (a network no
    checkpoint will load, in a resumed run): a model that starts from pretrained or given weights is kept."""
    encoders = dict(net_cfg.encoders)
    for field, encoder in net_cfg.encoders.items():
        architecture = Path(run_dir) / ARCHITECTURES_FOLDER / f"{net}-{folder_name(field)}"
        tokenizer = Path(run_dir) / TOKENIZERS_FOLDER / folder_name(field)
        loads_weights = encoder.params.get("pretrained") or encoder.params.get("weights")
        if loads_weights and not weights_restored:
            continue
        if encoder.type == "hf_text" and (architecture / "config.json").is_file() and tokenizer.is_dir():
            params = {**encoder.params, "model": str(architecture), "pretrained": False, "weights": "",
                      "tokenizer": str(tokenizer)}
            encoders[field] = dataclasses.replace(encoder, params=params)
    return dataclasses.replace(net_cfg, encoders=encoders)
