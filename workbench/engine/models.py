"""Encoders, fusions and the teacher/student network built from a config.

A network is one encoder per input field, a fusion of the encoders' features, a
linear projection to an ``embed_dim`` embedding (what the distillation terms compare)
and a linear classifier on that embedding.

Every encoder takes the field's input spec (from ``Preprocessing.input_specs()``) and
keyword hyper-parameters with defaults (the config params, see ``registry.py``), and
maps a batch of that field to ``(B, out_dim)``.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple, Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from workbench.engine.registry import (
    ENCODERS,
    FUSIONS,
    default_encoder,
    register_encoder,
    register_fusion,
    resolve_encoder_params,
)
from workbench.config import MAX_WIDTH
from workbench.config import ENCODER_DEFAULTS, ENCODER_TRAINING
from workbench.data.text import PAD_ID
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


def _masked_mean(values: torch.Tensor, padding: torch.Tensor) -> torch.Tensor:
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
        return _masked_mean(self.embedding(tokens), _padding_mask(tokens))


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
        return _masked_mean(hidden, padding)


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


# --------------------------------------------------------------------------- fusion


@register_fusion("concat")
class ConcatFusion(nn.Module):
    """Concatenate the fields' features, then a one-hidden-layer MLP."""

    def __init__(self, in_dims: Sequence[int], hidden: int, dropout: float):
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(sum(in_dims), hidden), nn.ReLU(inplace=True), nn.Dropout(dropout))
        self.out_dim = hidden

    def forward(self, features: Sequence[torch.Tensor]) -> torch.Tensor:
        return self.mlp(torch.cat(list(features), dim=1))


@register_fusion("gated")
class GatedFusion(nn.Module):
    """A gated sum (the Gated Multimodal Unit of Arevalo et al. 2017, for any number of fields).

    Each field is mapped to ``h_i = tanh(W_i x_i)``; per-dimension gates, a softmax over
    the fields computed from all features together, decide how much each field
    contributes: ``sum_i g_i * h_i``.
    """

    def __init__(self, in_dims: Sequence[int], hidden: int, dropout: float):
        super().__init__()
        self.field_projections = nn.ModuleList(nn.Linear(d, hidden) for d in in_dims)
        self.gate = nn.Linear(sum(in_dims), hidden * len(in_dims))
        self.dropout = nn.Dropout(dropout)
        self.out_dim = hidden

    def forward(self, features: Sequence[torch.Tensor]) -> torch.Tensor:
        projected = torch.stack(
            [torch.tanh(project(x)) for project, x in zip(self.field_projections, features)], dim=1
        )  # (B, fields, hidden)
        scores = self.gate(torch.cat(list(features), dim=1)).view_as(projected)
        return self.dropout((torch.softmax(scores, dim=1) * projected).sum(1))


# --------------------------------------------------------------------------- network


class NetworkOutput(NamedTuple):
    logits: torch.Tensor  # (B, num_classes), or (B, num_classes, H, W) for segmentation
    embedding: torch.Tensor  # (B, embed_dim)
    feature_map: torch.Tensor | None = None  # segmentation: (B, channels, h, w), the conditioned deepest map


class Network(nn.Module):
    """Encoders per field -> fusion -> projection to the embedding -> linear classifier."""

    def __init__(
        self,
        encoders: dict[str, nn.Module],
        fusion: nn.Module,
        embed_dim: int,
        num_classes: int,
        dropout: float,
    ):
        super().__init__()
        self.fields = list(encoders)
        self.encoders = nn.ModuleDict(encoders)
        self.fusion = fusion
        self.projection = nn.Linear(fusion.out_dim, embed_dim)
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(embed_dim, num_classes))
        self.embed_dim = embed_dim
        self.num_classes = num_classes

    def forward(self, batch: dict[str, torch.Tensor]) -> NetworkOutput:
        features = [self.encoders[field](batch[field]) for field in self.fields]
        embedding = self.projection(self.fusion(features))
        return NetworkOutput(self.classifier(embedding), embedding)


class SegmentationNetwork(nn.Module):
    """Text-guided segmentation: the image encoder's maps, conditioned on the other fields, decoded per pixel.

    The first image field's encoder gives a map per stage (``feature_maps``). The other fields'
    encoders give vectors, which are fused (the network's ``fusion``) and modulate the deepest
    map channel by channel (FiLM: ``map * (1 + gamma) + beta``): a phrase can thus say which
    shape to segment. A light U-Net decoder goes back up, each step upsampling, concatenating
    the stage's map and applying a 3x3 conv (``fusion_hidden`` channels), and a 1x1 conv gives
    the class logits, upsampled to the input size. The embedding (what contrastive and relational
    terms compare) is the pooled conditioned map, projected to ``embed_dim``.
    """

    def __init__(self, encoders: dict[str, nn.Module], image_field: str, fusion: nn.Module | None, embed_dim: int,
                 num_classes: int, width: int, dropout: float):
        super().__init__()
        self.fields = list(encoders)
        self.image_field = image_field
        self.encoders = nn.ModuleDict(encoders)
        self.fusion = fusion
        channels = list(encoders[image_field].map_channels)
        self.map_channels = channels[-1]
        self.film = nn.Linear(fusion.out_dim, 2 * channels[-1]) if fusion is not None else None
        self.up = nn.ModuleList()
        below = channels[-1]
        for skip in reversed(channels[:-1]):
            self.up.append(nn.Sequential(nn.Conv2d(below + skip, width, 3, padding=1, bias=False),
                                         nn.BatchNorm2d(width), nn.ReLU(inplace=True)))
            below = width
        self.head = nn.Sequential(nn.Dropout2d(dropout), nn.Conv2d(below, num_classes, 1))
        self.projection = nn.Linear(channels[-1], embed_dim)
        self.embed_dim = embed_dim
        self.num_classes = num_classes

    def forward(self, batch: dict[str, torch.Tensor]) -> NetworkOutput:
        image = batch[self.image_field]
        maps = self.encoders[self.image_field].feature_maps(image)
        deepest = maps[-1]
        if self.film is not None:
            vectors = [self.encoders[field](batch[field]) for field in self.fields if field != self.image_field]
            gamma, beta = self.film(self.fusion(vectors)).chunk(2, dim=1)
            deepest = deepest * (1 + gamma[:, :, None, None]) + beta[:, :, None, None]
        x = deepest
        for block, skip in zip(self.up, reversed(maps[:-1])):
            x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            x = block(torch.cat([x, skip], dim=1))
        logits = F.interpolate(self.head(x), size=image.shape[-2:], mode="bilinear", align_corners=False)
        embedding = self.projection(deepest.mean((2, 3)))
        return NetworkOutput(logits, embedding, deepest)


def count_parameters(module: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters in ``module`` (with ``trainable_only``, those not frozen)."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)


def set_train_mode(network: nn.Module) -> nn.Module:
    """``network.train()``, except that frozen encoders stay in eval mode (fixed BatchNorm statistics, no dropout)."""
    network.train()
    for module in network.modules():
        if getattr(module, "frozen", False):
            module.eval()
    return network


def parameter_groups(modules: list[nn.Module]) -> list[dict[str, Any]]:
    """The trainable parameters of ``modules`` grouped by learning-rate multiplier, in module order.

    An encoder built with ``lr_scale`` (e.g. 0.1 for a pretrained backbone) holds that
    multiplier; every other parameter has 1.0. The group with 1.0 comes first (its
    learning rate is the one logged). One group when nothing is scaled.
    """
    scales: dict[int, float] = {}
    for module in modules:
        for part in module.modules():
            if hasattr(part, "lr_scale"):
                scales.update({id(p): part.lr_scale for p in part.parameters()})
    groups: dict[float, list[nn.Parameter]] = {1.0: []}
    for module in modules:
        for p in module.parameters():
            if p.requires_grad:
                groups.setdefault(scales.get(id(p), 1.0), []).append(p)
    return [{"params": params, "lr_scale": scale} for scale, params in groups.items() if params]


def build_network(
    net_cfg: Any, input_specs: dict[str, dict[str, Any]], num_classes: int, name: str = "", spatial: bool = False
) -> nn.Module:
    """Build a network from a ``NetworkConfig``-like object.

    ``name`` (``"teacher"``/``"student"``) prefixes the keys of ConfigErrors, e.g.
    ``teacher.encoders.text.type``. ``spatial`` (segmentation) builds a network that predicts a
    class per pixel: see ``SegmentationNetwork``.
    """
    prefix = f"{name}." if name else ""
    fields = list(net_cfg.fields)
    if not fields:
        raise ConfigError("the network uses no field; list at least one in fields", f"{prefix}fields")
    for key, value in (("fusion_hidden", net_cfg.fusion_hidden), ("embed_dim", net_cfg.embed_dim)):
        if value < 1:
            raise ConfigError(f"{key} must be positive, got {value}", f"{prefix}{key}")
    if not 0.0 <= net_cfg.dropout < 1.0:
        raise ConfigError(f"dropout must be in [0, 1), got {net_cfg.dropout}", f"{prefix}dropout")
    if net_cfg.fusion not in FUSIONS:
        raise ConfigError(
            f"unknown fusion {net_cfg.fusion!r}; choose one of: {', '.join(FUSIONS)}", f"{prefix}fusion"
        )

    encoders: dict[str, nn.Module] = {}
    for field in fields:
        if field not in input_specs:
            known = ", ".join(input_specs) or "none"
            raise ConfigError(f"the data has no field {field!r} (its fields: {known})", f"{prefix}fields")
        encoders[field] = _build_encoder(net_cfg, field, input_specs[field], f"{prefix}encoders.{field}")
    if spatial:
        return _segmentation_network(net_cfg, encoders, input_specs, num_classes, prefix)
    in_dims = [encoder.out_dim for encoder in encoders.values()]
    fusion = FUSIONS[net_cfg.fusion](in_dims, net_cfg.fusion_hidden, net_cfg.dropout)
    return Network(encoders, fusion, net_cfg.embed_dim, num_classes, net_cfg.dropout)


def _segmentation_network(net_cfg: Any, encoders: dict[str, nn.Module], input_specs: dict[str, dict[str, Any]],
                          num_classes: int, prefix: str) -> SegmentationNetwork:
    images = [field for field in encoders if input_specs[field]["kind"] == "image"]
    if not images:
        raise ConfigError("segmentation predicts a class per pixel of an image: give the network an image field",
                          f"{prefix}fields")
    image_field = images[0]
    if not hasattr(encoders[image_field], "feature_maps"):
        spatial = sorted(name for name, cls in ENCODERS.items() if hasattr(cls, "feature_maps"))
        raise ConfigError(f"the {image_field!r} encoder keeps no spatial maps, which segmentation decodes; use one "
                          f"of: {', '.join(spatial)}", f"{prefix}encoders.{image_field}.type")
    others = [encoders[field].out_dim for field in encoders if field != image_field]
    fusion = FUSIONS[net_cfg.fusion](others, net_cfg.fusion_hidden, net_cfg.dropout) if others else None
    return SegmentationNetwork(encoders, image_field, fusion, net_cfg.embed_dim, num_classes, net_cfg.fusion_hidden,
                               net_cfg.dropout)


def _build_encoder(net_cfg: Any, field: str, spec: dict[str, Any], key: str) -> nn.Module:
    kind = spec["kind"]
    encoder_cfg = net_cfg.encoders.get(field)
    if encoder_cfg is None:
        encoder_type, params = default_encoder(kind, spec.get("shape")), {}
    else:
        encoder_type, params = encoder_cfg.type, encoder_cfg.params
    resolved = resolve_encoder_params(encoder_type, params, key)
    cls = ENCODERS[encoder_type]
    if cls.modality != kind:
        raise ConfigError(
            f"encoder {encoder_type!r} is for {cls.modality} fields, but {field!r} is a {kind} field",
            f"{key}.type",
        )
    try:
        encoder = cls(spec, **resolved)
    except ConfigError as error:
        # Encoders name the offending param (or "type") only; give the full dotted path.
        raise ConfigError(f"{key}: {error}", f"{key}.{error.key}") from None
    training = getattr(encoder_cfg, "train", ENCODER_DEFAULTS["train"])
    lr_scale = getattr(encoder_cfg, "lr_scale", ENCODER_DEFAULTS["lr_scale"])
    if training not in ENCODER_TRAINING:
        raise ConfigError(f"train must be one of {', '.join(ENCODER_TRAINING)}, got {training!r}", f"{key}.train")
    if not lr_scale > 0:
        raise ConfigError(f"lr_scale must be above 0, got {lr_scale}", f"{key}.lr_scale")
    if training == "frozen":
        encoder.requires_grad_(False)
        encoder.frozen = True  # set_train_mode keeps it in eval mode
    elif lr_scale != 1.0:
        encoder.lr_scale = lr_scale
    return encoder
