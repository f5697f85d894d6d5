"""The workbench's own encoders, one per input kind, registered in the encoder registry.

Every encoder takes the field's input spec (from ``Preprocessing.input_specs()``) and
keyword hyper-parameters with defaults (the config params, see ``registry.py``), and
maps a batch of that field to ``(B, out_dim)``. Image encoders that keep spatial maps
(``feature_maps``, ``map_channels``) can also serve a segmentation network (``models.py``).
Library backbones (timm, transformers) are in ``backbones.py``, which imports this module
first so that these are listed first.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from workbench.config import MAX_WIDTH
from workbench.data.text import PAD_ID
from workbench.registry import register_encoder
from workbench.errors import ConfigError


def _require_positive(**values: int | Sequence[int]) -> None:
    """Raise ConfigError (key = the param name) for a param that is not an int / list of ints in
    1..MAX_WIDTH (a bigger one never fits in memory; the run's memory estimate judges the rest)."""
    for name, value in values.items():
        items = value if isinstance(value, (list, tuple)) else [value]
        if not items or any(not 1 <= v <= MAX_WIDTH for v in items):
            raise ConfigError(f"{name} must be between 1 and {MAX_WIDTH}, got {value!r}", name)


def _conv_stack(in_channels: int, width: int, depth: int) -> tuple[nn.Sequential, int]:
    """``depth`` conv-BN-ReLU stages, channels doubling from ``width``, 2x max-pool between
    stages, global average pool at the end. Returns the stack and its output width.

    ``ceil_mode`` pooling never shrinks a side below 1, so small arrays work at any depth.
    """
    layers: list[nn.Module] = []
    channels = in_channels
    for stage in range(depth):
        out_channels = width * 2**stage
        if stage > 0:
            layers.append(nn.MaxPool2d(2, ceil_mode=True))
        layers += [
            nn.Conv2d(channels, out_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
        ]
        channels = out_channels
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
    return nn.Sequential(*layers), channels


# --------------------------------------------------------------------------- image


@register_encoder("cnn", modality="image")
class ConvEncoder(nn.Module):
    """A plain CNN: ``depth`` 3x3 conv stages of width ``width * 2**i``."""

    def __init__(self, spec: dict[str, Any], *, width: int = 16, depth: int = 3):
        super().__init__()
        _require_positive(width=width, depth=depth)
        self.body, self.out_dim = _conv_stack(spec["channels"], width, depth)
        self.map_channels = [width * 2**stage for stage in range(depth)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def feature_maps(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Each stage's output map, finest first (what a segmentation decoder needs)."""
        maps = []
        for layer in self.body:
            if isinstance(layer, nn.AdaptiveAvgPool2d):
                break
            x = layer(x)
            if isinstance(layer, nn.ReLU):
                maps.append(x)
        return maps


class BasicBlock(nn.Module):
    """The ResNet-18/34 residual block: two 3x3 convs, projection shortcut when the shape changes."""

    def __init__(self, in_channels: int, out_channels: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride, bias=False), nn.BatchNorm2d(out_channels)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)), inplace=True)
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x), inplace=True)


@register_encoder("resnet", modality="image")
class ResNetEncoder(nn.Module):
    """ResNet of BasicBlocks: ``blocks[i]`` blocks of width ``stage_widths[i]``, stride 2 from stage 2.

    ``stem="small"`` is a stride-1 3x3 conv (CIFAR-style, keeps detail in 32x32 images);
    ``stem="imagenet"`` is the original 7x7 stride-2 conv + 3x3 max-pool.
    """

    def __init__(
        self,
        spec: dict[str, Any],
        *,
        stem_width: int = 16,
        stage_widths: Sequence[int] = (16, 32, 64),
        blocks: Sequence[int] = (1, 1, 1),
        stem: str = "small",
    ):
        super().__init__()
        _require_positive(stem_width=stem_width, stage_widths=stage_widths, blocks=blocks)
        if len(stage_widths) != len(blocks):
            raise ConfigError(
                f"stage_widths ({len(stage_widths)} stages) and blocks ({len(blocks)} stages) "
                "must have the same length",
                "blocks",
            )
        channels = spec["channels"]
        if stem == "small":
            self.stem = nn.Sequential(
                nn.Conv2d(channels, stem_width, 3, 1, padding=1, bias=False),
                nn.BatchNorm2d(stem_width),
                nn.ReLU(inplace=True),
            )
        elif stem == "imagenet":
            self.stem = nn.Sequential(
                nn.Conv2d(channels, stem_width, 7, 2, padding=3, bias=False),
                nn.BatchNorm2d(stem_width),
                nn.ReLU(inplace=True),
                nn.MaxPool2d(3, 2, padding=1),
            )
        else:
            raise ConfigError(f"stem must be 'small' or 'imagenet', got {stem!r}", "stem")
        stages = []
        in_width = stem_width
        for index, (width, count) in enumerate(zip(stage_widths, blocks)):
            stride = 1 if index == 0 else 2
            stage = [BasicBlock(in_width, width, stride)]
            stage += [BasicBlock(width, width, 1) for _ in range(count - 1)]
            stages.append(nn.Sequential(*stage))
            in_width = width
        self.stages = nn.Sequential(*stages)
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.out_dim = in_width
        self.map_channels = list(stage_widths)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.stages(self.stem(x)))

    def feature_maps(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Each stage's output map, finest first."""
        maps = []
        x = self.stem(x)
        for stage in self.stages:
            x = stage(x)
            maps.append(x)
        return maps


@register_encoder("resnet18", modality="image")
class ResNet18Encoder(ResNetEncoder):
    """ResNet-18 (He et al. 2016) without its classifier: 2-2-2-2 BasicBlocks, widths 64-512."""

    def __init__(
        self,
        spec: dict[str, Any],
        *,
        stem_width: int = 64,
        stage_widths: Sequence[int] = (64, 128, 256, 512),
        blocks: Sequence[int] = (2, 2, 2, 2),
        stem: str = "imagenet",
    ):
        super().__init__(spec, stem_width=stem_width, stage_widths=stage_widths, blocks=blocks, stem=stem)


# --------------------------------------------------------------------------- text


def _padding_mask(tokens: torch.Tensor) -> torch.Tensor:
    """True where ``tokens`` is padding."""
    return tokens == PAD_ID


def masked_mean(values: torch.Tensor, padding: torch.Tensor) -> torch.Tensor:
    """Mean of ``values`` (B, L, D) over the non-padding positions; all-padding rows give 0."""
    keep = (~padding).unsqueeze(-1).to(values.dtype)
    return (values * keep).sum(1) / keep.sum(1).clamp(min=1.0)


@register_encoder("bag", modality="text")
class BagOfEmbeddingsEncoder(nn.Module):
    """Mean of the token embeddings, padding excluded."""

    def __init__(self, spec: dict[str, Any], *, dim: int = 64):
        super().__init__()
        _require_positive(dim=dim)
        self.embedding = nn.Embedding(spec["vocab_size"], dim, padding_idx=PAD_ID)
        self.out_dim = dim

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return masked_mean(self.embedding(tokens), _padding_mask(tokens))


@register_encoder("gru", modality="text")
class GRUEncoder(nn.Module):
    """Bidirectional GRU; the output is both directions' final states (out_dim = 2 * hidden).

    Sequences are packed by length, so the trailing padding that ``collate_batch``
    adds never enters the recurrence.
    """

    def __init__(self, spec: dict[str, Any], *, dim: int = 64, hidden: int = 64, layers: int = 1):
        super().__init__()
        _require_positive(dim=dim, hidden=hidden, layers=layers)
        self.embedding = nn.Embedding(spec["vocab_size"], dim, padding_idx=PAD_ID)
        self.gru = nn.GRU(dim, hidden, num_layers=layers, batch_first=True, bidirectional=True)
        self.out_dim = 2 * hidden

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        # An all-padding row still needs length >= 1 to be packed; its input is the zero pad embedding.
        lengths = (~_padding_mask(tokens)).sum(1).clamp(min=1)
        packed = pack_padded_sequence(
            self.embedding(tokens), lengths.cpu(), batch_first=True, enforce_sorted=False
        )
        _, last_states = self.gru(packed)  # (layers * 2, B, hidden), in the batch's original order
        return torch.cat([last_states[-2], last_states[-1]], dim=1)


def sinusoidal_positions(length: int, dim: int) -> torch.Tensor:
    """The fixed positional encoding of Vaswani et al. 2017, (length, dim)."""
    position = torch.arange(length, dtype=torch.float32).unsqueeze(1)
    frequency = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * (-math.log(10000.0) / dim))
    table = torch.zeros(length, dim)
    table[:, 0::2] = torch.sin(position * frequency)
    table[:, 1::2] = torch.cos(position * frequency[: dim // 2])
    return table


@register_encoder("transformer", modality="text")
class TransformerTextEncoder(nn.Module):
    """A small pre-norm Transformer encoder, padding masked in attention and in the mean pool."""

    def __init__(
        self,
        spec: dict[str, Any],
        *,
        dim: int = 64,
        layers: int = 2,
        heads: int = 4,
        ff_dim: int = 128,
        dropout: float = 0.1,
        positional: str = "sinusoidal",
    ):
        super().__init__()
        _require_positive(dim=dim, layers=layers, heads=heads, ff_dim=ff_dim)
        if dim % heads:
            raise ConfigError(f"heads ({heads}) must divide dim ({dim})", "heads")
        if not 0.0 <= dropout < 1.0:
            raise ConfigError(f"dropout must be in [0, 1), got {dropout}", "dropout")
        max_length = spec["max_length"]
        self.embedding = nn.Embedding(spec["vocab_size"], dim, padding_idx=PAD_ID)
        if positional == "sinusoidal":
            # Not persistent: derived from the shape, so checkpoints need not carry it.
            self.register_buffer("sinusoidal", sinusoidal_positions(max_length, dim), persistent=False)
            self.learned = None
        elif positional == "learned":
            self.learned = nn.Embedding(max_length, dim)
        else:
            message = f"positional must be 'sinusoidal' or 'learned', got {positional!r}"
            raise ConfigError(message, "positional")
        layer = nn.TransformerEncoderLayer(
            dim, heads, ff_dim, dropout, batch_first=True, norm_first=True
        )
        # Nested tensors are unavailable with norm_first (torch warns); the padding mask does their job.
        self.encoder = nn.TransformerEncoder(
            layer, layers, norm=nn.LayerNorm(dim), enable_nested_tensor=False
        )
        self.max_length = max_length
        self.out_dim = dim

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        length = tokens.shape[1]
        if length > self.max_length:
            raise ValueError(f"text of {length} tokens is longer than max_length={self.max_length}")
        if self.learned is not None:
            positions = self.learned.weight[:length]
        else:
            positions = self.sinusoidal[:length]
        padding = _padding_mask(tokens)
        # A row of only padding would mask every key and make attention NaN; let it
        # attend to its first slot (its pooled output is 0 anyway).
        attention_padding = padding.clone()
        attention_padding[:, 0] &= ~padding.all(1)
        hidden = self.encoder(self.embedding(tokens) + positions, src_key_padding_mask=attention_padding)
        return masked_mean(hidden, padding)


# --------------------------------------------------------------------------- audio, arrays


@register_encoder("audio_cnn", modality="audio")
class AudioConvEncoder(nn.Module):
    """A small 2-D CNN over the (1, n_mels, frames) log-mel spectrogram."""

    def __init__(self, spec: dict[str, Any], *, width: int = 16, depth: int = 3):
        super().__init__()
        _require_positive(width=width, depth=depth)
        self.body, self.out_dim = _conv_stack(1, width, depth)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


@register_encoder("mlp", modality="array")
class MLPEncoder(nn.Module):
    """An MLP over the flattened array: ``layers`` Linear-ReLU layers of width ``hidden``."""

    def __init__(self, spec: dict[str, Any], *, hidden: int = 128, layers: int = 2):
        super().__init__()
        _require_positive(hidden=hidden, layers=layers)
        blocks: list[nn.Module] = [nn.Flatten()]
        width = math.prod(spec["shape"])
        for _ in range(layers):
            blocks += [nn.Linear(width, hidden), nn.ReLU(inplace=True)]
            width = hidden
        self.body = nn.Sequential(*blocks)
        self.out_dim = hidden

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


@register_encoder("array_cnn", modality="array")
class ArrayConvEncoder(nn.Module):
    """A small CNN for 2-D arrays (H, W) or channel-first 3-D arrays (C, H, W)."""

    def __init__(self, spec: dict[str, Any], *, width: int = 16, depth: int = 2):
        super().__init__()
        _require_positive(width=width, depth=depth)
        shape = list(spec["shape"])
        if len(shape) not in (2, 3):
            raise ConfigError(
                f"array_cnn needs a 2-D or 3-D array, this field's shape is {shape}; use 'mlp'", "type"
            )
        self.add_channel = len(shape) == 2
        self.body, self.out_dim = _conv_stack(1 if self.add_channel else shape[0], width, depth)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x.unsqueeze(1) if self.add_channel else x)
