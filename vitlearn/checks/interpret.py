"""Exercise of chapter 07: attention rollout (Abnar & Zuidema, 2020).

Every case is a stack of real attention weights, ``(L, B, h, T, T)``, each row a softmax, so the
mistakes show up as values: a product in the wrong order, heads not averaged, the residual left
out or weighted the wrong way round. One case uses ``residual=0.25`` so that swapping the two
weights of the mix is not hidden by the symmetric default of 0.5.
"""

from __future__ import annotations

import torch

from vitlearn import interpret
from vitlearn.checks.core import Case, Exercise, Mistake, Pattern, dtype_name

# (layers L, batch B, heads h, tokens T, residual, dtype)
_STACKS = [(3, 2, 4, 5, 0.5, torch.float32), (4, 3, 2, 10, 0.5, torch.float64),
           (2, 2, 3, 7, 0.25, torch.float64), (1, 2, 2, 5, 0.5, torch.float64),
           (1, 3, 2, 6, 0.5, torch.float32), (3, 1, 2, 4, 0.25, torch.float32)]


def _rollout_cases() -> list[Case]:
    cases = []
    for seed, (layers, b, h, t, residual, dtype) in enumerate(_STACKS):
        scores = 2 * torch.randn(layers, b, h, t, t, generator=torch.Generator().manual_seed(seed), dtype=dtype)
        weights = scores.softmax(dim=-1)  # (L, B, h, T, T), every row sums to 1
        label = (f"{layers} layer{'s' if layers > 1 else ''} of ({b}, {h}, {t}, {t}) weights, residual={residual}, "
                 f"{dtype_name(dtype)}")
        cases.append(Case(label, (weights, residual), traits={"layers": layers, "residual": residual,
                                                               "dtype": dtype_name(dtype)}))
    return cases


def _rollout_with(mix, combine=lambda layer, rollout: layer @ rollout):
    """A rollout whose per-layer matrix is ``mix(weights (B, h, T, T), residual)`` and whose layers are
    put together by ``combine``: the skeleton every catalogued mistake below varies."""

    def answer(attentions: torch.Tensor, residual: float = 0.5) -> torch.Tensor:
        rollout = None
        for weights in attentions:  # (B, h, T, T), first layer first
            layer = mix(weights, residual)  # (B, T, T)
            rollout = layer if rollout is None else combine(layer, rollout)
        return rollout

    return answer


def _with_residual(fused: torch.Tensor, residual: float) -> torch.Tensor:
    """``(..., T, T)`` head-fused weights with the identity mixed in, rows renormalised."""
    identity = torch.eye(fused.shape[-1], dtype=fused.dtype)
    mixed = (1 - residual) * fused + residual * identity  # (..., T, T)
    return mixed / mixed.sum(dim=-1, keepdim=True)


def _mixed(weights: torch.Tensor, residual: float) -> torch.Tensor:
    """The right per-layer matrix of ``(B, h, T, T)`` weights: heads averaged, then the residual."""
    return _with_residual(weights.mean(dim=1), residual)  # (B, T, T)


ATTENTION_ROLLOUT = Exercise(
    name="attention_rollout",
    signature=("attention_rollout(attentions (L, B, h, T, T), residual: float = 0.5) -> (B, T, T): "
               "heads averaged, A = (1 - residual) W + residual I per layer, rows renormalised, "
               "R = A_L @ ... @ A_1"),
    reference=interpret.attention_rollout,
    make_cases=_rollout_cases,
    patterns=(
        Pattern("layers", 1, (
            "Only the one-layer case passes: each layer's matrix is right, but the layers are chained wrongly. "
            "Start from the first layer and put each new one on the left: `rollout = layer @ rollout`.")),
        Pattern("residual", 0.25, fails=True, hint=(
            "Only the case with residual=0.25 fails: use the `residual` argument, "
            "`A = (1 - residual) * W + residual * I`, not a fixed 0.5.")),
    ),
    mistakes=(
        Mistake("reversed_product",
                "The layers are multiplied in the wrong order. Information flows from the input up, so "
                "each new layer goes on the *left*: `rollout = layer @ rollout` (R = A_L ... A_2 A_1).",
                _rollout_with(_mixed, lambda layer, rollout: rollout @ layer)),
        Mistake("no_residual",
                "The residual connection is missing. Each block adds its input back, so mix the identity "
                "in: `A = (1 - residual) * W + residual * I`, then renormalise the rows.",
                _rollout_with(lambda w, r: w.mean(dim=1))),
        Mistake("residual_weights_swapped",
                "The two weights of the mix are swapped: the identity gets `residual`, the attention "
                "`1 - residual` (`A = (1 - residual) * W + residual * I`).",
                _rollout_with(lambda w, r: _mixed(w, 1 - r))),
        Mistake("not_renormalised",
                "`W + I` has rows summing to 2, so the product grows as 2^L. Weight the two terms "
                "(`(1 - residual) * W + residual * I`) or divide each row by its sum.",
                _rollout_with(lambda w, r: w.mean(dim=1) + torch.eye(w.shape[-1], dtype=w.dtype))),
        Mistake("max_over_heads",
                "You took the maximum over the heads. Rollout as Abnar & Zuidema define it averages "
                "them: `weights.mean(dim=1)` on each (B, h, T, T) layer.",
                _rollout_with(lambda w, r: _with_residual(w.amax(dim=1), r))),
        Mistake("first_head_only", "Only the first head is used. Average all heads: `weights.mean(dim=1)`.",
                _rollout_with(lambda w, r: _with_residual(w[:, 0], r))),
        Mistake("averaged_over_batch",
                "You averaged over the batch (dim 0 of a (B, h, T, T) layer), mixing images together. "
                "The heads are dim 1.",
                _rollout_with(lambda w, r: _with_residual(w.mean(dim=0), r))),
        Mistake("layers_summed",
                "The layers were added, not multiplied. Rollout chains them like matrices of a Markov "
                "chain: `rollout = layer @ rollout`.",
                _rollout_with(_mixed, lambda layer, rollout: layer + rollout)),
        Mistake("last_layer_only",
                "Only the last layer is used. Rollout multiplies every layer's matrix, from the first "
                "up to the last.",
                lambda attentions, residual=0.5: _mixed(attentions[-1], residual)),
        Mistake("transposed",
                "Your rows and columns are swapped: row t of the result must say how much of each *input* "
                "token reaches output token t (queries are rows, keys are columns, as in the weights).",
                lambda attentions, residual=0.5: interpret.attention_rollout(attentions, residual).mT),
    ),
)

EXERCISES = {e.name: e for e in (ATTENTION_ROLLOUT,)}
