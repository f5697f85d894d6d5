"""A complete config for a checked dataset, with each field's default encoder and its parameters spelled out."""

from __future__ import annotations

from typing import Any

from workbench.config.schema import EncoderConfig, ExperimentConfig
from workbench.errors import ConfigError
from workbench.registry import default_encoder, encoder_params


def default_encoders(fields: list[str], kinds: dict[str, str], shapes: dict[str, Any] | None = None
                     ) -> dict[str, EncoderConfig]:
    """Default encoder (with every parameter spelled out) for each field, from the registry (which imports the
    encoder classes: torch)."""
    encoders = {}
    for name in fields:
        kind = kinds[name]
        shape = (shapes or {}).get(name)
        encoder_type = default_encoder(kind, shape) if kind == "array" else default_encoder(kind)
        encoders[name] = EncoderConfig(type=encoder_type, params=dict(encoder_params(encoder_type)))
    return encoders


def default_config(report: Any = None, teacher_fields: list[str] | None = None,
                   student_fields: list[str] | None = None) -> ExperimentConfig:
    """A complete config for a checked dataset: teacher on all fields fused, student on the image field
    (VQA: the image and the question), for the report's task."""
    cfg = ExperimentConfig()
    if report is None:
        return cfg
    index = report.index
    cfg.data.root = str(index.root)
    cfg.data.task = getattr(report, "task", "classification")
    kinds = {name: info.kind for name, info in index.fields.items()}
    shapes = {name: getattr(info, "shape", None) for name, info in index.fields.items()}
    available = list(index.fields)
    teacher = teacher_fields or available
    image_fields = [name for name in available if kinds[name] == "image"]
    # A VQA student sees the image and the question; the teacher also the extra fields (e.g. a caption).
    asked = ["question"] if cfg.data.task == "vqa" and "question" in kinds else []
    student = student_fields or (image_fields[:1] + asked or available[:1])
    if cfg.data.task == "segmentation":
        cfg.train.early_stopping_metric = "val_miou"
        # fusion_hidden is the decoder's width there: it runs at full resolution, so it is kept narrow.
        cfg.teacher.fusion_hidden = cfg.student.fusion_hidden = 32
    for key, chosen in (("teacher.fields", teacher), ("student.fields", student)):
        unknown = [name for name in chosen if name not in kinds]
        if unknown:
            raise ConfigError(f"Unknown field '{unknown[0]}' for {key}. The dataset has: {', '.join(available)}.",
                              key)
    cfg.teacher.fields = list(teacher)
    cfg.teacher.encoders = default_encoders(cfg.teacher.fields, kinds, shapes)
    cfg.student.fields = list(student)
    cfg.student.encoders = default_encoders(cfg.student.fields, kinds, shapes)
    return cfg
