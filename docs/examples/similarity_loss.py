"""Similarity-preserving KD (Tung & Mori, ICCV 2019) as a workbench plug-in.

Samples the teacher finds alike should look alike to the student too: the term compares
the two networks' batch similarity matrices (B x B), so teacher and student may have
embeddings of different sizes and need no projector. Use it from a config:

    plugins = ["similarity_loss.py"]      # relative to the config file
    [loss.similarity]
    weight = 1.0
"""

import torch.nn.functional as F

from workbench.engine.losses import LossTerm, option, register_loss


@register_loss("similarity")
class SimilarityPreservingTerm(LossTerm):
    """Similarity-preserving KD (Tung & Mori 2019): match the batch's pairwise similarities."""

    title = "Similarity preserving (SP)"
    source: str = option("embedding", "Which outputs are compared.", choices=("embedding", "logits"))
    scale: float = option(1.0, "Multiplies the squared Frobenius distance (the paper uses up to 3000).",
                          low=0.0, low_open=True, high=10000.0)

    @classmethod
    def symbol(cls, options):
        return f"SP({options.source})"

    def forward(self, student, teacher, batch):
        s = getattr(student, self.options.source).flatten(1)
        t = getattr(teacher, self.options.source).detach().flatten(1)
        similarity_s = F.normalize(s @ s.T, dim=1)  # row-normalised Gram matrices, as in the paper
        similarity_t = F.normalize(t @ t.T, dim=1)
        return self.options.scale * (similarity_s - similarity_t).pow(2).sum() / len(s) ** 2
