"""Exercises of chapter 06: read the CLS output, and score it with cross-entropy.

Cases have batch > 1 and a sequence length T different from both the batch size and the
width D, so picking the wrong axis always shows up as a wrong shape or wrong values.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from vitlearn import model
from vitlearn.checks.core import Case, Exercise, Mistake, dtype_name

# (batch, tokens T, width D, dtype) for cls_token_output; (batch, classes K, dtype) for the loss.
_SEQUENCES = [(2, 5, 8, torch.float32), (3, 17, 6, torch.float64), (4, 10, 12, torch.float64), (1, 6, 4, torch.float64),
              (1, 7, 3, torch.float32)]
_LOGITS = [(4, 10, torch.float32), (3, 7, torch.float64), (8, 3, torch.float64)]


def _cls_cases() -> list[Case]:
    cases = []
    for seed, (b, t, d, dtype) in enumerate(_SEQUENCES):
        encoded = torch.randn(b, t, d, generator=torch.Generator().manual_seed(seed), dtype=dtype)  # (B, T, D)
        cases.append(Case(f"encoder output ({b}, {t}, {d}), {dtype_name(dtype)}", (encoded,),
                          traits={"batch": b, "dtype": dtype_name(dtype)}))
    return cases


def _loss_cases() -> list[Case]:
    cases = []
    for seed, (b, k, dtype) in enumerate(_LOGITS):
        g = torch.Generator().manual_seed(seed)
        logits = 3 * torch.randn(b, k, generator=g, dtype=dtype)  # (B, K)
        labels = torch.randint(k, (b,), generator=g)  # (B,) int64
        cases.append(Case(f"logits ({b}, {k}), labels ({b},), {dtype_name(dtype)}", (logits, labels),
                          traits={"batch": b, "dtype": dtype_name(dtype)}, sizes={"B": b, "K": k}))
    return cases


DETACHED_HINT = ("No gradient flows back through your output: don't `.detach()` it or copy it with "
                 "`torch.tensor(...)`; training needs the gradient to reach the encoder.")

CLS_TOKEN_OUTPUT = Exercise(
    name="cls_token_output",
    signature="cls_token_output(encoder_output (B, T, D)) -> (B, D), the CLS row of every sequence",
    reference=model.cls_token_output,
    make_cases=_cls_cases,
    grad_args=(0,),
    mistakes=(
        Mistake("batch_first_confusion",
                "`encoder_output[0]` is the first *image's* whole sequence (T, D). With batch-first "
                "tensors (B, T, D) the CLS row of every image is `encoder_output[:, 0]`.",
                lambda x: x[0]),
        Mistake("last_token", "You took the last token. The CLS token was prepended: it is row 0, "
                "`encoder_output[:, 0]`.", lambda x: x[:, -1]),
        Mistake("first_patch", "Row 1 is the first *patch*; the CLS token sits at row 0.", lambda x: x[:, 1]),
        Mistake("kept_token_dim", "`encoder_output[:, 0:1]` keeps a length-1 token axis (B, 1, D); index "
                "with `[:, 0]` to get (B, D).", lambda x: x[:, 0:1]),
        Mistake("mean_pool", "That is mean pooling over all tokens (chapter 03 compares it). This exercise "
                "reads the CLS token's output: `encoder_output[:, 0]`.", lambda x: x.mean(dim=1)),
        Mistake("indexed_width", "You indexed the last axis (the width D) instead of the token axis: "
                "`[:, 0]`, not `[:, :, 0]`.", lambda x: x[:, :, 0]),
        Mistake("detached", DETACHED_HINT, lambda x: x[:, 0].detach()),
    ),
)

CLASSIFICATION_LOSS = Exercise(
    name="classification_loss",
    signature="classification_loss(logits (B, K), labels (B,) int64) -> scalar mean cross-entropy",
    reference=model.classification_loss,
    make_cases=_loss_cases,
    grad_args=(0,),
    mistakes=(
        Mistake("softmax_first",
                "`F.cross_entropy` applies log-softmax itself: pass the raw logits, not softmax(logits).",
                lambda logits, labels: F.cross_entropy(F.softmax(logits, dim=-1), labels)),
        Mistake("nll_on_logits",
                "`F.nll_loss` expects log-probabilities. Use `F.cross_entropy(logits, labels)`, or "
                "`F.nll_loss(F.log_softmax(logits, dim=-1), labels)`.",
                lambda logits, labels: F.nll_loss(logits, labels)),
        Mistake("log_softmax_over_batch",
                "The log-softmax ran over the batch (dim=0). Probabilities are over the classes: dim=-1.",
                lambda logits, labels: F.nll_loss(F.log_softmax(logits, dim=0), labels)),
        Mistake("summed", "You summed over the batch. The loss is the *mean* over the batch (the default "
                "`reduction='mean'`), so its scale does not depend on the batch size.",
                lambda logits, labels: F.cross_entropy(logits, labels, reduction="sum")),
        Mistake("per_sample", "You returned one loss per image (B,). Return their mean, a single number.",
                lambda logits, labels: F.cross_entropy(logits, labels, reduction="none")),
        Mistake("mse_on_one_hot", "Mean squared error against one-hot labels is a regression loss. "
                "Classification uses cross-entropy: `F.cross_entropy(logits, labels)`.",
                lambda logits, labels: F.mse_loss(logits, F.one_hot(labels, logits.shape[1]).to(logits.dtype))),
        Mistake("arguments_swapped", "The arguments are swapped: `F.cross_entropy(logits, labels)`, "
                "prediction first, target second.",
                lambda logits, labels: F.cross_entropy(labels, logits)),
        Mistake("detached", DETACHED_HINT, lambda logits, labels: F.cross_entropy(logits.detach(), labels)),
    ),
)

EXERCISES = {e.name: e for e in (CLS_TOKEN_OUTPUT, CLASSIFICATION_LOSS)}
