"""Each loss formula against a hand computation on tiny tensors, and the Objective around them."""

import math
from types import SimpleNamespace as NS

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from workbench.engine.losses import (
    AdversarialTerm,
    HintTerm,
    ImageDecoder,
    Objective,
    ObjectiveContext,
    describe_objective,
    dkd_parts,
    grad_reverse,
    info_nce,
    kd_loss,
    rkd_angle_loss,
    rkd_distance_loss,
)
from workbench.engine.models import NetworkOutput
from workbench.registry import LOSSES
from workbench.errors import ConfigError

STUDENT_LOGITS = torch.tensor([[1.0, 2.0, 0.5], [0.0, -1.0, 3.0]])
TEACHER_LOGITS = torch.tensor([[2.0, 0.0, 1.0], [1.0, 1.0, 2.0]])
LABELS = torch.tensor([1, 2])


def np_softmax(x):
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def np_kl(p, q):
    """KL(p || q) per row."""
    return (p * (np.log(p) - np.log(q))).sum(axis=1)


def loss_cfg(**weights):
    """A loss config with the contract's defaults, every weight 0 unless given."""
    cfg = NS(
        ce=NS(weight=0.0, label_smoothing=0.0),
        kd=NS(weight=0.0, temperature=4.0),
        dkd=NS(weight=0.0, alpha=1.0, beta=8.0, temperature=4.0),
        feature=NS(weight=0.0, distance="cosine"),
        contrastive=NS(weight=0.0, temperature=0.07, dim=8),
        relation=NS(weight=0.0, distance_weight=25.0, angle_weight=50.0),
        adversarial=NS(weight=0.0, hidden=8),
        reconstruction=NS(weight=0.0, target="teacher_embedding", field="image"),
    )
    for name, weight in weights.items():
        getattr(cfg, name).weight = weight
    return cfg


CONTEXT = ObjectiveContext(num_classes=3, teacher_dim=6, student_dim=4, image_shape=(3, 16, 16))


def outputs(batch_size=4, seed=0):
    generator = torch.Generator().manual_seed(seed)
    def randn(*shape):
        return torch.randn(batch_size, *shape, generator=generator)

    student = NetworkOutput(randn(3), randn(4))
    teacher = NetworkOutput(randn(3), randn(6))
    batch = {"label": torch.arange(batch_size) % 3, "image": randn(3, 16, 16)}
    return student, teacher, batch


# --------------------------------------------------------------------------- kd


def test_kd_is_zero_for_equal_logits():
    assert kd_loss(TEACHER_LOGITS, TEACHER_LOGITS, 4.0).item() == pytest.approx(0.0, abs=1e-7)


@pytest.mark.parametrize("temperature", [1.0, 2.0, 4.0])
def test_kd_matches_hand_computation_with_batch_mean_and_t_squared(temperature):
    p_teacher = np_softmax(TEACHER_LOGITS.numpy().astype(np.float64) / temperature)
    p_student = np_softmax(STUDENT_LOGITS.numpy().astype(np.float64) / temperature)
    # Sum over classes, mean over the 2 rows (not over the 6 entries), times T^2.
    expected = temperature**2 * np_kl(p_teacher, p_student).mean()
    assert kd_loss(STUDENT_LOGITS, TEACHER_LOGITS, temperature).item() == pytest.approx(expected, rel=1e-5)


def test_kd_gradient_size_does_not_shrink_with_temperature():
    # Hinton et al.: soft-target gradients scale as 1/T^2, so the T^2 factor keeps them comparable.
    def gradient_norm(temperature):
        student = STUDENT_LOGITS.clone().requires_grad_()
        kd_loss(student, TEACHER_LOGITS, temperature).backward()
        return student.grad.norm().item()

    assert gradient_norm(40.0) == pytest.approx(gradient_norm(20.0), rel=0.01)


# --------------------------------------------------------------------------- dkd


def test_dkd_parts_match_hand_computation():
    temperature = 2.0
    p_teacher = np_softmax(TEACHER_LOGITS.numpy().astype(np.float64) / temperature)
    p_student = np_softmax(STUDENT_LOGITS.numpy().astype(np.float64) / temperature)
    rows = np.arange(2)
    labels = LABELS.numpy()
    binary_teacher = np.stack([p_teacher[rows, labels], 1 - p_teacher[rows, labels]], axis=1)
    binary_student = np.stack([p_student[rows, labels], 1 - p_student[rows, labels]], axis=1)
    tckd = temperature**2 * np_kl(binary_teacher, binary_student).mean()
    keep = np.ones_like(p_teacher, dtype=bool)
    keep[rows, labels] = False
    rest_teacher = p_teacher[keep].reshape(2, 2)
    rest_student = p_student[keep].reshape(2, 2)
    nckd = temperature**2 * np_kl(
        rest_teacher / rest_teacher.sum(1, keepdims=True), rest_student / rest_student.sum(1, keepdims=True)
    ).mean()

    got_tckd, got_nckd = dkd_parts(STUDENT_LOGITS, TEACHER_LOGITS, LABELS, temperature)
    assert got_tckd.item() == pytest.approx(tckd, rel=1e-5)
    assert got_nckd.item() == pytest.approx(nckd, rel=1e-5)


def test_dkd_parts_recompose_classical_kd():
    # Zhao et al. eq. 5, per sample: KD = TCKD + (1 - p_target^teacher) * NCKD.
    student, teacher, label = STUDENT_LOGITS[:1], TEACHER_LOGITS[:1], LABELS[:1]
    tckd, nckd = dkd_parts(student, teacher, label, temperature=3.0)
    teacher_rest = 1 - torch.softmax(teacher / 3.0, dim=1)[0, label].item()
    recomposed = tckd + teacher_rest * nckd
    assert kd_loss(student, teacher, 3.0).item() == pytest.approx(recomposed.item(), rel=1e-5)


def test_dkd_term_is_alpha_tckd_plus_beta_nckd():
    cfg = loss_cfg(dkd=1.0)
    cfg.dkd.alpha, cfg.dkd.beta = 0.5, 3.0
    student, teacher, batch = outputs()
    _, values = Objective(cfg, CONTEXT)(student, teacher, batch)
    tckd, nckd = dkd_parts(student.logits, teacher.logits, batch["label"], 4.0)
    assert values["dkd"]["raw"].item() == pytest.approx((0.5 * tckd + 3.0 * nckd).item(), rel=1e-6)


# --------------------------------------------------------------------------- ce, feature, contrastive


def test_label_smoothing_matches_hand_formula_and_torch():
    cfg = loss_cfg(ce=1.0)
    cfg.ce.label_smoothing = 0.2
    student = NetworkOutput(STUDENT_LOGITS, torch.zeros(2, 4))
    _, values = Objective(cfg, CONTEXT)(student, None, {"label": LABELS})
    log_p = np.log(np_softmax(STUDENT_LOGITS.numpy().astype(np.float64)))
    # (1 - eps) * NLL + eps * mean over classes of -log p
    expected = (0.8 * -log_p[[0, 1], LABELS.numpy()] + 0.2 * -log_p.mean(axis=1)).mean()
    assert values["ce"]["raw"].item() == pytest.approx(expected, rel=1e-5)
    torch_value = F.cross_entropy(STUDENT_LOGITS, LABELS, label_smoothing=0.2).item()
    assert values["ce"]["raw"].item() == pytest.approx(torch_value, rel=1e-6)


def identity_hint(distance):
    context = ObjectiveContext(num_classes=3, teacher_dim=4, student_dim=4)
    term = HintTerm(NS(weight=1.0, distance=distance), context)
    with torch.no_grad():
        term.projector.weight.copy_(torch.eye(4))
        term.projector.bias.zero_()
    return term


def test_feature_cosine_is_zero_for_identical_directions_and_one_for_orthogonal():
    term = identity_hint("cosine")
    student = torch.tensor([[1.0, 2.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0]])
    same_direction = NetworkOutput(None, 3 * student)
    assert term(NetworkOutput(None, student), same_direction, {}).item() == pytest.approx(0.0, abs=1e-6)
    orthogonal = NetworkOutput(None, torch.tensor([[-2.0, 1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 5.0]]))
    assert term(NetworkOutput(None, student), orthogonal, {}).item() == pytest.approx(1.0, abs=1e-6)


def test_feature_mse_is_mean_squared_difference_after_projection():
    term = identity_hint("mse")
    student = torch.tensor([[1.0, 2.0, 0.0, 0.0]])
    teacher = torch.tensor([[1.0, 0.0, 0.0, 3.0]])
    value = term(NetworkOutput(None, student), NetworkOutput(None, teacher), {})
    assert value.item() == pytest.approx((4 + 9) / 4)


def test_info_nce_is_log_n_when_all_similarities_are_equal():
    same = torch.ones(5, 3)
    assert info_nce(same, same, 0.07).item() == pytest.approx(math.log(5), rel=1e-6)


def test_info_nce_matches_hand_computation_and_is_symmetric():
    student = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    teacher = torch.tensor([[3.0, 4.0], [0.0, 1.0]])  # normalised: (0.6, 0.8), (0, 1)
    similarities = np.array([[0.6, 0.0], [0.8, 1.0]]) / 0.5
    def ce_rows(m):
        return np.mean([np.log(np.exp(m[i]).sum()) - m[i, i] for i in range(2)])
    expected = (ce_rows(similarities) + ce_rows(similarities.T)) / 2
    assert info_nce(student, teacher, 0.5).item() == pytest.approx(expected, rel=1e-6)
    assert info_nce(teacher, student, 0.5).item() == pytest.approx(expected, rel=1e-6)


# --------------------------------------------------------------------------- relation


def test_rkd_is_zero_when_student_is_a_scaled_rotated_copy_of_teacher():
    teacher = torch.randn(6, 3, generator=torch.Generator().manual_seed(1))
    rotation, _ = torch.linalg.qr(torch.randn(3, 3, generator=torch.Generator().manual_seed(2)))
    # Another width, another scale, rotated and shifted: same relations.
    student = torch.cat([2.5 * teacher @ rotation + 1.0, torch.zeros(6, 2)], dim=1)
    assert rkd_distance_loss(student, teacher).item() == pytest.approx(0.0, abs=1e-6)
    assert rkd_angle_loss(student, teacher).item() == pytest.approx(0.0, abs=1e-6)
    shuffled = student[torch.tensor([1, 0, 2, 3, 5, 4])]
    assert rkd_distance_loss(shuffled, teacher).item() > 1e-3


def test_rkd_distance_matches_hand_computation():
    teacher = torch.tensor([[0.0, 0.0], [3.0, 0.0], [0.0, 4.0]])  # distances 3, 4, 5
    student = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])  # distances 1, 1, sqrt(2)
    t = np.array([3, 4, 5]) / 4.0
    s = np.array([1, 1, math.sqrt(2)]) / ((2 + math.sqrt(2)) / 3)
    diff = np.abs(s - t)
    huber = np.where(diff < 1, 0.5 * diff**2, diff - 0.5)
    expected = 2 * huber.sum() / 9  # each pair twice in the 3x3 matrix, zero diagonal
    assert rkd_distance_loss(student, teacher).item() == pytest.approx(expected, rel=1e-5)


def test_rkd_gradients_are_finite_for_duplicate_embeddings():
    student = torch.ones(4, 3, requires_grad=True)
    teacher = torch.randn(4, 5)
    (rkd_distance_loss(student, teacher) + rkd_angle_loss(student, teacher)).backward()
    assert torch.isfinite(student.grad).all()


# --------------------------------------------------------------------------- adversarial


def test_gradient_reversal_is_identity_forward_and_flips_gradient_sign():
    x = torch.tensor([1.0, -2.0, 3.0], requires_grad=True)
    y = grad_reverse(x, scale=0.5)
    assert torch.equal(y, x)
    (y * torch.tensor([1.0, 2.0, 3.0])).sum().backward()
    assert torch.equal(x.grad, torch.tensor([-0.5, -1.0, -1.5]))


def test_adversarial_trains_discriminator_and_reverses_student_gradient():
    term = AdversarialTerm(NS(weight=1.0, hidden=8), CONTEXT)
    student, teacher, batch = outputs()
    embedding = student.embedding.clone().requires_grad_()
    loss = term(NetworkOutput(student.logits, embedding), teacher, batch)
    loss.backward()
    # The same loss without the reversal: the student's gradient is its exact opposite.
    plain_embedding = student.embedding.clone().requires_grad_()
    fake = term.discriminator(term.projector(plain_embedding))
    F.binary_cross_entropy_with_logits(fake, torch.zeros_like(fake)).backward()
    torch.testing.assert_close(embedding.grad, -plain_embedding.grad)
    # The discriminator still descends its own loss: zeroed logits give exactly 2 log 2.
    with torch.no_grad():
        term.discriminator[-1].weight.zero_()
        term.discriminator[-1].bias.zero_()
    assert term(student, teacher, batch).item() == pytest.approx(2 * math.log(2), rel=1e-6)


# --------------------------------------------------------------------------- reconstruction


@pytest.mark.parametrize("image_shape", [(3, 16, 16), (1, 28, 20)])
def test_image_decoder_outputs_the_image_shape(image_shape):
    decoder = ImageDecoder(4, image_shape)
    assert decoder(torch.randn(2, 4)).shape == (2, *image_shape)


def test_reconstruction_of_input_image_and_teacher_embedding():
    student, teacher, batch = outputs()
    cfg = loss_cfg(reconstruction=1.0)
    cfg.reconstruction.target = "input_image"
    objective = Objective(cfg, ObjectiveContext(3, None, 4, (3, 16, 16)))  # needs no teacher
    _, values = objective(student, None, batch)
    decoded = objective.terms["reconstruction"].decoder(student.embedding)
    assert values["reconstruction"]["raw"].item() == pytest.approx(F.mse_loss(decoded, batch["image"]).item())

    cfg.reconstruction.target = "teacher_embedding"
    objective = Objective(cfg, CONTEXT)
    _, values = objective(student, teacher, batch)
    decoded = objective.terms["reconstruction"].decoder(student.embedding)
    expected = F.mse_loss(decoded, teacher.embedding).item()
    assert values["reconstruction"]["raw"].item() == pytest.approx(expected)


def test_reconstruction_of_image_without_image_field_is_a_config_error():
    cfg = loss_cfg(reconstruction=1.0)
    cfg.reconstruction.target = "input_image"
    with pytest.raises(ConfigError) as error:
        Objective(cfg, ObjectiveContext(3, 6, 4, image_shape=None))
    assert error.value.key == "loss.reconstruction.field"


# --------------------------------------------------------------------------- objective


def test_loss_registry_order_is_the_formula_order():
    assert list(LOSSES) == [
        "ce", "kd", "dkd", "feature", "contrastive", "relation", "adversarial", "reconstruction",
    ]


@pytest.mark.parametrize("weight, message", [(-1.0, "must be at least 0, got -1."),
                                             (5000.0, "must be at most 1000, got 5000.")])
def test_a_weight_outside_its_declared_bounds_is_refused_with_its_key(weight, message):
    cfg = loss_cfg(ce=1.0, dkd=weight)
    with pytest.raises(ConfigError) as error:
        describe_objective(cfg)
    assert error.value.key == "loss.dkd.weight" and message in str(error.value)


def test_objective_sums_weighted_terms_and_skips_zero_weights():
    cfg = loss_cfg(ce=1.0, kd=0.5, feature=0.1, contrastive=0.2)
    objective = Objective(cfg, CONTEXT)
    assert list(objective.terms) == ["ce", "kd", "feature", "contrastive"]
    student, teacher, batch = outputs()
    total, values = objective(student, teacher, batch)
    assert values["kd"]["weighted"].item() == pytest.approx(0.5 * values["kd"]["raw"].item())
    assert total.item() == pytest.approx(sum(v["weighted"].item() for v in values.values()), rel=1e-6)
    learned = {name for name, _ in objective.named_parameters()}
    assert "terms.feature.projector.weight" in learned and "terms.contrastive.teacher_head.weight" in learned


def test_every_term_runs_and_backpropagates_together():
    cfg = loss_cfg(**{name: 1.0 for name in LOSSES})
    cfg.reconstruction.target = "input_image"
    objective = Objective(cfg, CONTEXT)
    student, teacher, batch = outputs()
    embedding = student.embedding.clone().requires_grad_()
    total, values = objective(NetworkOutput(student.logits, embedding), teacher, batch)
    total.backward()
    assert set(values) == set(LOSSES)
    assert torch.isfinite(embedding.grad).all()
    assert all(p.grad is not None for p in objective.parameters())


def test_objective_computes_in_float32_under_autocast():
    objective = Objective(loss_cfg(ce=1.0, kd=1.0, dkd=1.0, contrastive=1.0, relation=1.0), CONTEXT)
    student, teacher, batch = outputs()
    half = NetworkOutput(student.logits.bfloat16(), student.embedding.bfloat16())
    with torch.autocast("cpu", dtype=torch.bfloat16):
        total, values = objective(half, teacher, batch)
    assert total.dtype == torch.float32 and torch.isfinite(total)
    assert all(v["raw"].dtype == torch.float32 for v in values.values())


def test_describe_objective_formula_line():
    cfg = loss_cfg(ce=1.0, kd=0.7, feature=0.1)
    assert describe_objective(cfg) == "L = 1.0·CE + 0.7·KD(T=4) + 0.1·Feature(cos)"
    assert Objective(cfg, CONTEXT).describe() == describe_objective(cfg)
    assert describe_objective(loss_cfg()) == "L = 0"


def test_ce_only_objective_needs_no_teacher():
    objective = Objective(NS(ce=NS(weight=1.0, label_smoothing=0.0)), ObjectiveContext(3, None, 4))
    student, _, batch = outputs()
    total, _ = objective(student, None, batch)
    assert not objective.requires_teacher and torch.isfinite(total)


def test_teacher_terms_without_teacher_are_config_errors():
    with pytest.raises(ConfigError) as error:
        Objective(loss_cfg(ce=1.0, kd=1.0), ObjectiveContext(3, None, 4))
    assert error.value.key == "loss.kd.weight"
    student, _, batch = outputs()
    with pytest.raises(ConfigError, match="teacher"):
        Objective(loss_cfg(kd=1.0), CONTEXT)(student, None, batch)


@pytest.mark.parametrize(
    "change, key",
    [
        (lambda cfg: setattr(cfg.ce, "weight", -1.0), "loss.ce.weight"),
        (lambda cfg: setattr(cfg.kd, "temperature", 0.0), "loss.kd.temperature"),
        (lambda cfg: setattr(cfg.feature, "distance", "l1"), "loss.feature.distance"),
        (lambda cfg: setattr(cfg.reconstruction, "target", "audio"), "loss.reconstruction.target"),
        (lambda cfg: None, "loss"),
    ],
)
def test_bad_loss_config_is_reported_with_its_key(change, key):
    cfg = loss_cfg(kd=1.0, feature=1.0, reconstruction=1.0) if key != "loss" else loss_cfg()
    change(cfg)
    with pytest.raises(ConfigError) as error:
        Objective(cfg, CONTEXT)
    assert error.value.key == key
