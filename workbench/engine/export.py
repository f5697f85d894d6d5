"""Export a run's student (or teacher, or baseline) to TorchScript or ONNX, with a JSON beside it.

The exported model takes one tensor per input field, in the order the JSON lists them,
and returns ``(logits, probabilities)``. Text fields are token ids padded with 0 to the
tokenizer's ``max_length`` (a fixed input shape); the vocabulary and the rest of the
fitted preprocessing are in the JSON, so another program can encode new inputs the
way the run did. A field read with a Hugging Face tokenizer (``hf_text``) carries that
tokenizer's ids plus 1 (0 stays padding; the model makes its attention mask from it), and
the tokenizer's files are copied beside the export (``<name>-tokenizers/<field>/``). Every
export is checked right away: the exported model and the checkpoint must give the same
logits on the run's validation samples.

ONNX needs the optional extra ``pip install "workbench[onnx]"`` (onnx, onnxscript);
the check of an ONNX file also needs ``onnxruntime`` and is skipped without it.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from workbench.atomic import atomic_write_text
from workbench.data.hf_tokenizer import ID_OFFSET, HuggingFaceTextProcessor, folder_name
from workbench.engine.checkpoint import load_checkpoint
from workbench.engine.inference import encode_batch, validation_items
from workbench.engine.runs import RunRecord, load_network
from workbench.errors import WorkbenchError

FORMATS = {"torchscript": ".pt", "onnx": ".onnx"}
NETS = ("student", "teacher", "baseline")
OUTPUT_NAMES = ["logits", "probabilities"]
VERIFY_SAMPLES = 64
# Exported and eager logits agree to float rounding; anything larger is a wrong export.
TOLERANCE = 1e-3


class ExportWrapper(nn.Module):
    """One positional tensor per field in, ``(logits, probabilities)`` out: what exporters can trace."""

    def __init__(self, network: nn.Module):
        super().__init__()
        self.network = network
        self.fields = list(network.fields)

    def forward(self, *inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits = self.network(dict(zip(self.fields, inputs))).logits
        return logits, torch.softmax(logits, dim=1)


def export_run(run_dir: Path, fmt: str, net: str = "student", out: Path | None = None) -> Path:
    """Export ``net`` of the run at ``run_dir``; returns the model file (the JSON is ``out.with_suffix('.json')``)."""
    run_dir = Path(run_dir)
    if fmt not in FORMATS:
        raise WorkbenchError(f"Unknown export format '{fmt}'; use one of: {', '.join(FORMATS)}.")
    if net not in NETS:
        raise WorkbenchError(f"Unknown network '{net}'; use one of: {', '.join(NETS)}.")
    if fmt == "onnx":
        _require_onnx()
    RunRecord.open(run_dir)  # a clear error for a folder that is not a run
    which = _checkpoint_choice(run_dir, net)
    network, preprocessing, class_names, config = load_network(run_dir, net, which)
    network.eval()
    fields = list(network.fields)
    out = Path(out) if out is not None else run_dir / "export" / f"{net}{FORMATS[fmt]}"
    out.parent.mkdir(parents=True, exist_ok=True)

    items, _ = validation_items(run_dir, preprocessing, fields, VERIFY_SAMPLES)
    if not items:
        raise WorkbenchError(f"{run_dir} has no validation samples (samples.json) to check the export on.")
    batch = encode_batch(preprocessing, fields, items, pad_text=True)
    inputs = tuple(batch[field] for field in fields)
    wrapper = ExportWrapper(network).eval()
    with torch.no_grad():
        expected = wrapper(*inputs)[0].numpy()

    if fmt == "torchscript":
        _export_torchscript(wrapper, inputs, out)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # torch 2.9+ deprecates TorchScript; it still works
            exported = torch.jit.load(str(out))
        with torch.no_grad():
            actual: np.ndarray | None = exported(*inputs)[0].numpy()
    else:
        net_cfg = config.teacher if net == "teacher" else config.student  # the baseline is the student's twin
        encoder_types = {field: encoder.type for field, encoder in net_cfg.encoders.items()}
        _export_onnx(wrapper, inputs, fields, out, encoder_types)
        actual = run_onnx(out, fields, inputs)[0] if _has("onnxruntime") else None

    verification: dict[str, Any] = {"samples": len(items)}
    if actual is None:
        verification["note"] = "not checked: install onnxruntime to compare the ONNX model with the checkpoint"
    else:
        difference = float(np.abs(actual - expected).max())
        verification["max_abs_logit_difference"] = difference
        if difference > TOLERANCE:
            out.unlink(missing_ok=True)
            raise WorkbenchError(f"The exported {net} differs from its checkpoint on the validation samples "
                                 f"(largest logit difference {difference:.3g}); the export was removed.")
    sidecar = export_metadata(run_dir, net, which, fmt, fields, preprocessing, class_names, verification)
    sidecar["tokenizers"] = _export_tokenizers(preprocessing, fields, out)
    sidecar["checkpoint_epoch"] = load_checkpoint(run_dir / sidecar["checkpoint"]).get("epoch")
    # Segmentation models return per-pixel mask logits (batch, classes, H, W); softmax is over dim 1.
    sidecar["task"] = config.data.task
    sidecar["output_shape"] = ["batch", *expected.shape[1:]]
    atomic_write_text(out.with_suffix(".json"), json.dumps(sidecar, indent=2, ensure_ascii=False) + "\n")
    return out


def describe_export(model_path: Path) -> str:
    """The one-line result of an export, from the JSON beside the model: what was exported from which
    checkpoint, where to, and how it compared with the checkpoint (the CLI prints it, the app shows it)."""
    model_path = Path(model_path)
    meta = json.loads(model_path.with_suffix(".json").read_text(encoding="utf-8"))
    which = Path(meta["checkpoint"]).stem.rsplit("-", 1)[-1]  # checkpoints/<net>-<best|last>.pt
    epoch = meta.get("checkpoint_epoch")
    source = f"{meta['checkpoint']}, the {'best checkpoint' if which == 'best' else 'last epoch'}" + (
        f" (epoch {epoch})" if epoch is not None else "")
    check = meta.get("verification", {})
    if "max_abs_logit_difference" in check:
        verdict = (f"checked against the checkpoint on {check['samples']} validation samples: largest logit "
                   f"difference {check['max_abs_logit_difference']:.2g} (limit {TOLERANCE:g})")
    else:
        verdict = check.get("note", "not checked")
    return f"Exported the {meta['net']} from {source} as {meta['format']} to {model_path}; {verdict}."


def _checkpoint_choice(run_dir: Path, net: str) -> str:
    for which in ("best", "last"):
        if (run_dir / "checkpoints" / f"{net}-{which}.pt").is_file():
            return which
    raise WorkbenchError(f"{run_dir} has no {net} checkpoint (checkpoints/{net}-best.pt or -last.pt).")


def _has(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def _require_onnx() -> None:
    missing = [name for name in ("onnx", "onnxscript") if not _has(name)]
    if missing:
        raise WorkbenchError(f"ONNX export needs {' and '.join(missing)}: pip install \"workbench[onnx]\" "
                             "(or use --format torchscript).")


def _export_torchscript(wrapper: ExportWrapper, inputs: tuple[torch.Tensor, ...], out: Path) -> None:
    with warnings.catch_warnings():
        # Tracing warns that it is deprecated and that Python checks in the encoders
        # (text length, empty rows) are frozen; the check against the checkpoint below
        # is what tells whether the trace is right.
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(wrapper, inputs, check_trace=False)
    tmp = out.with_name(out.name + ".tmp")
    traced.save(str(tmp))
    tmp.replace(out)


def _export_onnx(wrapper: ExportWrapper, inputs: tuple[torch.Tensor, ...], fields: list[str], out: Path,
                 encoder_types: dict[str, str]) -> None:
    if "gru" in encoder_types.values():
        raise WorkbenchError("ONNX export does not support the 'gru' text encoder (packed sequences); "
                             "export with --format torchscript instead.")
    batch = torch.export.Dim("batch")
    tmp = out.with_name(out.name + ".tmp")
    # The exporter logs a warning per torchvision operator it cannot register; nothing here uses them.
    registration_log = logging.getLogger("torch.onnx._internal.exporter._registration")
    level = registration_log.level
    registration_log.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(wrapper, inputs, str(tmp), input_names=fields, output_names=OUTPUT_NAMES,
                              dynamic_shapes=(tuple({0: batch} for _ in fields),), dynamo=True,
                              external_data=False, verbose=False)
    except Exception as error:  # noqa: BLE001  (the exporter raises many kinds; the user gets one message)
        tmp.unlink(missing_ok=True)
        raise WorkbenchError(f"ONNX export failed ({type(error).__name__}: {str(error).splitlines()[0]}); "
                             "try --format torchscript.") from None
    finally:
        registration_log.setLevel(level)
    tmp.replace(out)


def _export_tokenizers(preprocessing: Any, fields: list[str], out: Path) -> dict[str, dict[str, Any]]:
    """Copy each Hugging Face tokenizer an exported field uses beside the model; what the JSON says of it."""
    described = {}
    for field in fields:
        processor = preprocessing.processors[field]
        if isinstance(processor, HuggingFaceTextProcessor):
            folder = out.parent / f"{out.stem}-tokenizers" / folder_name(field)
            processor.save_files(folder)
            described[field] = {"source": processor.source, "revision": processor.revision,
                                "files": str(folder.relative_to(out.parent)), "id_offset": ID_OFFSET,
                                "use": "ids = tokenizer(text, truncation=True, max_length)['input_ids'] + id_offset, "
                                       "right-padded with 0"}
    return described


def run_onnx(path: Path, fields: list[str], inputs: tuple[torch.Tensor, ...]) -> list[np.ndarray]:
    """Run an exported ONNX model with onnxruntime: ``[logits, probabilities]``."""
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {field: tensor.numpy() for field, tensor in zip(fields, inputs)})


def export_metadata(run_dir: Path, net: str, which: str, fmt: str, fields: list[str], preprocessing: Any,
                    class_names: list[str], verification: dict[str, Any]) -> dict[str, Any]:
    """The JSON written beside an exported model: how to feed it and read its output."""
    specs = preprocessing.input_specs()
    inputs = [{"name": field, "kind": specs[field]["kind"], "dtype": specs[field]["dtype"],
               "shape": ["batch", *specs[field]["input_shape"]]} for field in fields]
    full = preprocessing.to_dict()
    vocabulary = {field: full["fields"][field]["state"]["tokenizer"]["vocabulary"]
                  for field in fields if "tokenizer" in full["fields"][field]["state"]}
    return {
        "format": fmt,
        "net": net,
        "run": Path(run_dir).name,
        "checkpoint": f"checkpoints/{net}-{which}.pt",
        "fields": fields,
        "inputs": inputs,
        "outputs": OUTPUT_NAMES,
        "labels": list(class_names),
        "text_padding": "token ids, 0 = padding, 1 = unknown, right-padded with 0 to max_length",
        "preprocessing": {"version": full["version"],
                          "fields": {field: full["fields"][field] for field in fields}},
        "vocabulary": vocabulary,
        "verification": verification,
    }
