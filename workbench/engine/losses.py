"""The distillation objective: a weighted sum of named, registered loss terms.

Each term is an ``nn.Module`` built as ``cls(term_cfg, context)``; terms with learned
parts (hint projector, contrastive heads, discriminator, decoders) hold them, and
``Objective`` holds only the terms with weight > 0, so the trainer optimises
``objective.parameters()`` together with the student.

All terms compute in float32 with autocast off: softmax, log-sums and similarity
matrices lose too much in float16/bfloat16.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from workbench.config import MAX_WIDTH
from workbench.engine.models import NetworkOutput
from workbench.errors import ConfigError
from workbench.options import option, option_problem
from workbench.registry import LOSSES, MAX_LOSS_WEIGHT, register_loss

# What a plug-in needs.
__all__ = ["MAX_LOSS_WEIGHT", "LossTerm", "NetworkOutput", "ObjectiveContext", "option", "register_loss"]


@dataclass
class ObjectiveContext:
    """What the terms need to size their learned parts.

    ``teacher_dim`` is None when there is no teacher (a baseline run); ``image_shape``
    is (C, H, W) of the student's image field named by ``loss.reconstruction.field``,
    or None when the student has no such field. ``*_map_channels``: channels of the
    networks' spatial feature maps (segmentation networks), else None.
    """

    num_classes: int
    teacher_dim: int | None
    student_dim: int
    image_shape: tuple[int, int, int] | None = None
    student_map_channels: int | None = None
    teacher_map_channels: int | None = None


def objective_context(
    loss_cfg: Any, input_specs: dict[str, dict[str, Any]], num_classes: int, student: Any, teacher: Any = None
) -> ObjectiveContext:
    """The context for ``Objective`` from the built networks (``Network`` objects, teacher optional)."""
    reconstruction = getattr(loss_cfg, "reconstruction", None)
    field = getattr(reconstruction, "field", "image")
    spec = input_specs.get(field)
    image_shape = None
    if field in student.fields and spec is not None and spec["kind"] == "image":
        image_shape = tuple(spec["input_shape"])
    teacher_dim = teacher.embed_dim if teacher is not None else None
    return ObjectiveContext(num_classes, teacher_dim, student.embed_dim, image_shape,
                            getattr(student, "map_channels", None), getattr(teacher, "map_channels", None))


# --------------------------------------------------------------------------- formulas


def kd_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """Hinton et al. 2015: T^2 * KL(softmax(t/T) || softmax(s/T)), averaged over the batch.

    ``batchmean``, not ``mean``: ``mean`` would also divide by the number of classes.
    The T^2 keeps the soft-target gradients' size independent of T.
    """
    log_student = F.log_softmax(student_logits.float() / temperature, dim=1)
    log_teacher = F.log_softmax(teacher_logits.float() / temperature, dim=1)
    return F.kl_div(log_student, log_teacher, reduction="batchmean", log_target=True) * temperature**2


def _batch_kl(log_p: torch.Tensor, log_q: torch.Tensor) -> torch.Tensor:
    """KL(p || q) summed over classes, averaged over the batch, from log-probabilities."""
    return F.kl_div(log_q, log_p, reduction="batchmean", log_target=True)


def _binary_log_probs(log_probs: torch.Tensor, target_mask: torch.Tensor) -> torch.Tensor:
    """log [p_target, 1 - p_target] per row, with 1 - p_target as a log-sum-exp (no cancellation)."""
    log_target = log_probs.masked_fill(~target_mask, -math.inf).logsumexp(1)
    log_rest = log_probs.masked_fill(target_mask, -math.inf).logsumexp(1)
    return torch.stack([log_target, log_rest], dim=1)


def dkd_parts(
    student_logits: torch.Tensor, teacher_logits: torch.Tensor, labels: torch.Tensor, temperature: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Decoupled KD (Zhao et al., CVPR 2022): (TCKD, NCKD), each already times T^2.

    TCKD is the KL between the binary target / non-target distributions; NCKD the KL
    between the distributions over the non-target classes alone (renormalised), which
    is the same as dropping the target column before the softmax.
    """
    student = student_logits.float() / temperature
    teacher = teacher_logits.float() / temperature
    batch, classes = student.shape
    target_mask = F.one_hot(labels, classes).bool()
    tckd = _batch_kl(
        _binary_log_probs(F.log_softmax(teacher, 1), target_mask),
        _binary_log_probs(F.log_softmax(student, 1), target_mask),
    )
    non_target = ~target_mask
    nckd = _batch_kl(
        F.log_softmax(teacher[non_target].view(batch, classes - 1), 1),
        F.log_softmax(student[non_target].view(batch, classes - 1), 1),
    )
    return tckd * temperature**2, nckd * temperature**2


def info_nce(student: torch.Tensor, teacher: torch.Tensor, temperature: float) -> torch.Tensor:
    """Symmetric InfoNCE (CLIP): row i of each side is the positive of row i of the other."""
    student = F.normalize(student.float(), dim=1)
    teacher = F.normalize(teacher.float(), dim=1)
    logits = student @ teacher.T / temperature
    targets = torch.arange(len(logits), device=logits.device)
    return (F.cross_entropy(logits, targets) + F.cross_entropy(logits.T, targets)) / 2


def _pairwise_distances(x: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """Euclidean distance matrix with a zero diagonal; clamped before the sqrt so gradients stay finite."""
    squared_norms = x.pow(2).sum(1)
    squared = (squared_norms[:, None] + squared_norms[None, :] - 2 * x @ x.T).clamp(min=eps)
    return squared.sqrt() * (1 - torch.eye(len(x), device=x.device, dtype=x.dtype))


def _mean_normalised_distances(x: torch.Tensor) -> torch.Tensor:
    distances = _pairwise_distances(x)
    positive = (distances > 0).sum().clamp(min=1)
    return distances / (distances.sum() / positive).clamp(min=1e-12)


def rkd_distance_loss(student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """RKD distance term (Park et al. 2019): Huber between mean-normalised distance matrices."""
    return F.smooth_l1_loss(
        _mean_normalised_distances(student.float()), _mean_normalised_distances(teacher.float().detach())
    )


def _triplet_angles(x: torch.Tensor) -> torch.Tensor:
    """cos of the angle at j between (i, j, k) for every triplet, flattened (N^3,)."""
    unit = F.normalize(x[None, :, :] - x[:, None, :], p=2, dim=2)  # unit[j, i] = (x_i - x_j) / |.|
    return torch.bmm(unit, unit.transpose(1, 2)).reshape(-1)


def rkd_angle_loss(student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """RKD angle term (Park et al. 2019): Huber between the triplet-angle cosines."""
    return F.smooth_l1_loss(_triplet_angles(student.float()), _triplet_angles(teacher.float().detach()))


class GradientReversal(torch.autograd.Function):
    """Identity forward; multiplies the gradient by -scale backward (Ganin & Lempitsky 2015)."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, scale: float) -> torch.Tensor:
        ctx.scale = scale
        return x.view_as(x)

    @staticmethod
    def backward(ctx: Any, grad_output: torch.Tensor) -> tuple[torch.Tensor, None]:
        return -ctx.scale * grad_output, None


def grad_reverse(x: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
    return GradientReversal.apply(x, scale)


# --------------------------------------------------------------------------- terms


# The KD terms' softmax temperature: below 0.1 the soft targets are all but one-hot and the T² factor all but
# removes the term; above 100 they are all but uniform (papers use 1 to 20).
KD_TEMPERATURE = (0.1, 100.0)


def _format(value: float) -> str:
    return f"{float(value):g}"


class LossTerm(nn.Module):
    """A term of the objective: ``forward(student, teacher, batch)`` returns its raw (unweighted) value.

    Subclasses are registered with ``@register_loss(name)`` and declare their options as
    annotated ``option(...)`` attributes (see ``registry.register_loss``); the options of
    a config arrive as ``self.options`` and are checked against those declarations here.
    """

    registry_name: str  # set by @register_loss
    Options: type  # built by @register_loss from the declared options
    title: str  # the heading of the term in the GUI (default: its name)

    def __init__(self, options: Any, context: ObjectiveContext):
        super().__init__()
        for declared in dataclasses.fields(self.Options):
            problem = option_problem(getattr(options, declared.name), declared.metadata)
            if problem:
                raise ConfigError(f"{self._key(declared.name)} {problem}", self._key(declared.name))
        self.options = options
        self.requires_teacher = self.needs_teacher(options)
        if self.requires_teacher and context.teacher_dim is None:
            raise ConfigError(
                f"the '{self.registry_name}' loss term needs a teacher; "
                "set its weight to 0 or train a teacher",
                f"loss.{self.registry_name}.weight",
            )

    @classmethod
    def needs_teacher(cls, options: Any) -> bool:
        return True

    @classmethod
    def symbol(cls, options: Any) -> str:
        """The term in the formula line, e.g. ``KD(T=4)``."""
        return cls.registry_name

    def _key(self, option_name: str) -> str:
        return f"loss.{self.registry_name}.{option_name}"


@register_loss("ce")
class CrossEntropyTerm(LossTerm):
    title = "Cross-entropy (CE)"
    weight: float = option(1.0, "Cross-entropy with the true labels.", low=0.0, high=MAX_LOSS_WEIGHT)
    label_smoothing: float = option(0.0, "Label smoothing of the cross-entropy targets.", low=0.0, high=0.99)

    @classmethod
    def needs_teacher(cls, options: Any) -> bool:
        return False

    @classmethod
    def symbol(cls, options: Any) -> str:
        return f"CE(ls={_format(options.label_smoothing)})" if options.label_smoothing else "CE"

    def forward(self, student: NetworkOutput, teacher: NetworkOutput | None, batch: dict) -> torch.Tensor:
        return F.cross_entropy(student.logits, batch["label"], label_smoothing=self.options.label_smoothing)


@register_loss("kd")
class SoftTargetTerm(LossTerm):
    title = "Soft targets (KD)"
    weight: float = option(1.0, "Hinton's soft-target loss: T^2 * KL(teacher/T || student/T).", low=0.0,
                           high=MAX_LOSS_WEIGHT)
    temperature: float = option(4.0, "Softmax temperature T.", low=KD_TEMPERATURE[0], high=KD_TEMPERATURE[1])

    @classmethod
    def symbol(cls, options: Any) -> str:
        return f"KD(T={_format(options.temperature)})"

    def forward(self, student: NetworkOutput, teacher: NetworkOutput, batch: dict) -> torch.Tensor:
        return kd_loss(student.logits, teacher.logits.detach(), self.options.temperature)


@register_loss("dkd")
class DecoupledKDTerm(LossTerm):
    title = "Decoupled KD (DKD)"
    weight: float = option(0.0, "Decoupled KD (Zhao et al. 2022): target and non-target class parts.", low=0.0,
                           high=MAX_LOSS_WEIGHT)
    alpha: float = option(1.0, "Weight of the target-class part (TCKD).", low=0.0, high=MAX_LOSS_WEIGHT)
    beta: float = option(8.0, "Weight of the non-target-class part (NCKD).", low=0.0, high=MAX_LOSS_WEIGHT)
    temperature: float = option(4.0, "Softmax temperature T.", low=KD_TEMPERATURE[0], high=KD_TEMPERATURE[1])

    def __init__(self, options: Any, context: ObjectiveContext):
        super().__init__(options, context)
        if context.num_classes < 2:
            raise ConfigError("dkd needs at least 2 classes", self._key("weight"))

    @classmethod
    def symbol(cls, options: Any) -> str:
        return f"DKD(α={_format(options.alpha)}, β={_format(options.beta)}, T={_format(options.temperature)})"

    def forward(self, student: NetworkOutput, teacher: NetworkOutput, batch: dict) -> torch.Tensor:
        tckd, nckd = dkd_parts(student.logits, teacher.logits.detach(), batch["label"], self.options.temperature)
        return self.options.alpha * tckd + self.options.beta * nckd


@register_loss("feature")
class HintTerm(LossTerm):
    """FitNets hint: a learned linear regressor maps the student embedding onto the teacher's.

    Between segmentation networks the hint is on their spatial feature maps: a 1x1 convolution
    maps the student's map onto the teacher's, and the distance is averaged over the locations.
    """

    title = "Feature hint (FitNets)"
    weight: float = option(0.0, "FitNets hint: a learned projector maps the student embedding to the teacher's.",
                           low=0.0, high=MAX_LOSS_WEIGHT)
    distance: str = option("cosine", "Distance between projected student and teacher embeddings.",
                           choices=("mse", "cosine"))

    def __init__(self, options: Any, context: ObjectiveContext):
        super().__init__(options, context)
        self.spatial = context.student_map_channels is not None and context.teacher_map_channels is not None
        if self.spatial:
            self.projector: nn.Module = nn.Conv2d(context.student_map_channels, context.teacher_map_channels, 1)
        else:
            self.projector = nn.Linear(context.student_dim, context.teacher_dim)

    @classmethod
    def symbol(cls, options: Any) -> str:
        return f"Feature({'cos' if options.distance == 'cosine' else options.distance})"

    def forward(self, student: NetworkOutput, teacher: NetworkOutput, batch: dict) -> torch.Tensor:
        if self.spatial:
            hint = self.projector(student.feature_map)
            target = teacher.feature_map.detach()
            if hint.shape[-2:] != target.shape[-2:]:
                hint = F.interpolate(hint, size=target.shape[-2:], mode="bilinear", align_corners=False)
        else:
            hint = self.projector(student.embedding)
            target = teacher.embedding.detach()
        if self.options.distance == "mse":
            return F.mse_loss(hint, target)
        return (1 - F.cosine_similarity(hint, target, dim=1)).mean()


@register_loss("contrastive")
class ContrastiveTerm(LossTerm):
    """CLIP-style InfoNCE between learned projections of the student and (detached) teacher embeddings."""

    title = "Contrastive (InfoNCE)"
    weight: float = option(0.0, "Symmetric InfoNCE aligning student and teacher embeddings of the same sample.",
                           low=0.0, high=MAX_LOSS_WEIGHT)
    # 0.07 is CLIP's starting value, and CLIP keeps its learned temperature at 0.01 or above.
    temperature: float = option(0.07, "Temperature of the similarity logits.", low=0.01, high=10.0)
    dim: int = option(128, "Size of the shared projection space.", low=1, high=MAX_WIDTH)

    def __init__(self, options: Any, context: ObjectiveContext):
        super().__init__(options, context)
        self.student_head = nn.Linear(context.student_dim, options.dim)
        self.teacher_head = nn.Linear(context.teacher_dim, options.dim)

    @classmethod
    def symbol(cls, options: Any) -> str:
        return f"InfoNCE(τ={_format(options.temperature)})"

    def forward(self, student: NetworkOutput, teacher: NetworkOutput, batch: dict) -> torch.Tensor:
        projected_student = self.student_head(student.embedding)
        projected_teacher = self.teacher_head(teacher.embedding.detach())
        return info_nce(projected_student, projected_teacher, self.options.temperature)


@register_loss("relation")
class RelationalTerm(LossTerm):
    """RKD: distance_weight * distance term + angle_weight * angle term, on the embeddings."""

    title = "Relational (RKD)"
    weight: float = option(0.0, "Relational KD: match pairwise distances and triplet angles of embeddings.", low=0.0,
                           high=MAX_LOSS_WEIGHT)
    distance_weight: float = option(25.0, "Weight of the RKD distance part.", low=0.0, high=MAX_LOSS_WEIGHT)
    angle_weight: float = option(50.0, "Weight of the RKD angle part.", low=0.0, high=MAX_LOSS_WEIGHT)

    @classmethod
    def symbol(cls, options: Any) -> str:
        return f"RKD(d={_format(options.distance_weight)}, a={_format(options.angle_weight)})"

    def forward(self, student: NetworkOutput, teacher: NetworkOutput, batch: dict) -> torch.Tensor:
        value = student.embedding.new_zeros(())
        if self.options.distance_weight:
            value = value + self.options.distance_weight * rkd_distance_loss(student.embedding, teacher.embedding)
        if self.options.angle_weight:
            value = value + self.options.angle_weight * rkd_angle_loss(student.embedding, teacher.embedding)
        return value


@register_loss("adversarial")
class AdversarialTerm(LossTerm):
    """A modality discriminator tells teacher embeddings (1) from projected student ones (0).

    Gradient reversal sits between the projection and the discriminator, so one
    optimizer step trains the discriminator to separate them and the student (and
    projector) to make them inseparable.
    """

    title = "Adversarial alignment"
    weight: float = option(0.0, "A discriminator tells teacher from student embeddings; the student learns to fool it.",
                           low=0.0, high=MAX_LOSS_WEIGHT)
    hidden: int = option(128, "Hidden width of the modality discriminator.", low=1, high=MAX_WIDTH)

    def __init__(self, options: Any, context: ObjectiveContext):
        super().__init__(options, context)
        self.projector = nn.Linear(context.student_dim, context.teacher_dim)
        self.discriminator = nn.Sequential(
            nn.Linear(context.teacher_dim, options.hidden), nn.LeakyReLU(0.2), nn.Linear(options.hidden, 1)
        )

    @classmethod
    def symbol(cls, options: Any) -> str:
        return "Adv"

    def forward(self, student: NetworkOutput, teacher: NetworkOutput, batch: dict) -> torch.Tensor:
        real = self.discriminator(teacher.embedding.detach())
        fake = self.discriminator(grad_reverse(self.projector(student.embedding)))
        return F.binary_cross_entropy_with_logits(
            real, torch.ones_like(real)
        ) + F.binary_cross_entropy_with_logits(fake, torch.zeros_like(fake))


class ImageDecoder(nn.Module):
    """Embedding -> image: a linear map to a 4x4 grid, then 2x transposed-conv upsampling."""

    START_SIZE = 4

    def __init__(
        self, in_dim: int, image_shape: tuple[int, int, int], base_channels: int = 64, min_channels: int = 16
    ):
        super().__init__()
        channels, height, width = image_shape
        self.image_size = (height, width)
        self.base_channels = base_channels
        self.grid = nn.Linear(in_dim, base_channels * self.START_SIZE**2)
        steps = max(0, math.ceil(math.log2(max(height, width) / self.START_SIZE)))
        layers: list[nn.Module] = [nn.ReLU(inplace=True)]
        current = base_channels
        for _ in range(steps):
            out = max(current // 2, min_channels)
            layers += [nn.ConvTranspose2d(current, out, 4, stride=2, padding=1), nn.ReLU(inplace=True)]
            current = out
        layers.append(nn.Conv2d(current, channels, 3, padding=1))
        self.upsample = nn.Sequential(*layers)

    def forward(self, embedding: torch.Tensor) -> torch.Tensor:
        grid = self.grid(embedding).view(-1, self.base_channels, self.START_SIZE, self.START_SIZE)
        image = self.upsample(grid)
        if image.shape[-2:] != self.image_size:  # sizes that are not 4 * 2^k
            image = F.interpolate(image, size=self.image_size, mode="bilinear", align_corners=False)
        return image


@register_loss("reconstruction")
class ReconstructionTerm(LossTerm):
    """MSE of a decoder from the student embedding to the teacher embedding or to the student's own image."""

    title = "Reconstruction"
    weight: float = option(0.0, "A decoder rebuilds the target from the student embedding (MSE).", low=0.0,
                           high=MAX_LOSS_WEIGHT)
    target: str = option("teacher_embedding", "What the decoder reconstructs.",
                         choices=("teacher_embedding", "input_image"))
    field: str = option("image", "Student image field reconstructed when target = input_image.")

    def __init__(self, options: Any, context: ObjectiveContext):
        super().__init__(options, context)
        if options.target == "teacher_embedding":
            hidden = max(context.student_dim, context.teacher_dim)
            self.decoder: nn.Module = nn.Sequential(
                nn.Linear(context.student_dim, hidden),
                nn.ReLU(inplace=True),
                nn.Linear(hidden, context.teacher_dim),
            )
        elif context.image_shape is None:
            raise ConfigError(
                f"reconstructing the input image needs an image field {options.field!r} "
                "among the student's fields",
                "loss.reconstruction.field",
            )
        else:
            self.decoder = ImageDecoder(context.student_dim, context.image_shape)

    @classmethod
    def needs_teacher(cls, options: Any) -> bool:
        return options.target == "teacher_embedding"

    @classmethod
    def symbol(cls, options: Any) -> str:
        return "Recon(teacher emb)" if options.target == "teacher_embedding" else f"Recon({options.field})"

    def forward(self, student: NetworkOutput, teacher: NetworkOutput | None, batch: dict) -> torch.Tensor:
        if self.options.target == "teacher_embedding":
            target = teacher.embedding.detach()
        else:
            target = batch[self.options.field].float()
        return F.mse_loss(self.decoder(student.embedding), target)


# --------------------------------------------------------------------------- objective


def _active_terms(loss_cfg: Any) -> list[tuple[str, Any]]:
    """(name, term config) of the terms with weight > 0, in registry order; a weight outside its declared
    bounds (negative, too large) is an error, also for a term it leaves out."""
    active = []
    for name in LOSSES:
        term_cfg = getattr(loss_cfg, name, None)
        if term_cfg is None:
            continue
        weight_declaration = next(f for f in dataclasses.fields(LOSSES[name].Options) if f.name == "weight")
        problem = option_problem(term_cfg.weight, weight_declaration.metadata)
        if problem:
            key = f"loss.{name}.weight"
            raise ConfigError(f"{key} {problem}", key)
        if term_cfg.weight > 0:
            active.append((name, term_cfg))
    return active


def describe_objective(loss_cfg: Any) -> str:
    """The objective as a formula line, e.g. ``L = 1.0·CE + 0.7·KD(T=4) + 0.1·Feature(cos)``."""
    parts = [f"{float(cfg.weight)!r}·{LOSSES[name].symbol(cfg)}" for name, cfg in _active_terms(loss_cfg)]
    return "L = " + (" + ".join(parts) if parts else "0")


def _float32(output: NetworkOutput) -> NetworkOutput:
    feature_map = output.feature_map.float() if output.feature_map is not None else None
    return NetworkOutput(output.logits.float(), output.embedding.float(), feature_map)


class Objective(nn.Module):
    """The weighted sum of the terms with weight > 0; their learned parts are its parameters."""

    def __init__(self, loss_cfg: Any, context: ObjectiveContext):
        super().__init__()
        self.loss_cfg = loss_cfg
        self.context = context
        active = _active_terms(loss_cfg)
        if not active:
            raise ConfigError(
                "every loss term has weight 0; give at least one (e.g. loss.ce.weight) a weight", "loss"
            )
        self.terms = nn.ModuleDict({name: LOSSES[name](cfg, context) for name, cfg in active})
        self.weights = {name: float(cfg.weight) for name, cfg in active}

    @property
    def requires_teacher(self) -> bool:
        return any(term.requires_teacher for term in self.terms.values())

    def describe(self) -> str:
        return describe_objective(self.loss_cfg)

    def forward(
        self, student_out: NetworkOutput, teacher_out: NetworkOutput | None, batch: dict[str, torch.Tensor]
    ) -> tuple[torch.Tensor, dict[str, dict[str, torch.Tensor]]]:
        """(total, {term: {"raw", "weighted"}}); the tensors keep their graph (call ``.item()`` to log)."""
        # Inputs may be float16/bfloat16 from an autocast forward; the losses run in float32.
        with torch.autocast(student_out.logits.device.type, enabled=False):
            student = _float32(student_out)
            teacher = _float32(teacher_out) if teacher_out is not None else None
            values: dict[str, dict[str, torch.Tensor]] = {}
            for name, term in self.terms.items():
                if teacher is None and term.requires_teacher:
                    message = f"the '{name}' loss term needs the teacher's outputs; none were given"
                    raise ConfigError(message, f"loss.{name}.weight")
                raw = term(student, teacher, batch)
                values[name] = {"raw": raw, "weighted": raw * self.weights[name]}
            total = torch.stack([value["weighted"] for value in values.values()]).sum()
        return total, values
