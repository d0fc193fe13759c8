"""An instructor's own exercise for vitlearn: mean pooling of the patch tokens (the CLS token left out).

``vitlearn check`` and ``vitlearn grade`` find this module beside ``mean_pool.ipynb`` (or take
``--exercises PATH``); the notebook's check cell imports it: ``EXERCISES["mean_pool"].check(mean_pool)``.
"""

import torch

from vitlearn.checks.core import Case, Exercise, Mistake, dtype_name

# (batch B, tokens T = 1 CLS + N patches, width D, dtype): T never equals D, so a wrong axis shows.
SHAPES = [(1, 5, 4, torch.float32), (2, 7, 3, torch.float64), (3, 10, 6, torch.float32), (2, 2, 5, torch.float64)]


def mean_pool(tokens: torch.Tensor) -> torch.Tensor:
    """(B, T, D) tokens, the CLS token first -> (B, D), the mean of the patch tokens."""
    return tokens[:, 1:].mean(dim=1)


def make_cases() -> list[Case]:
    cases = []
    for seed, (b, t, d, dtype) in enumerate(SHAPES):
        tokens = torch.randn(b, t, d, generator=torch.Generator().manual_seed(seed), dtype=dtype)
        cases.append(Case(f"batch {b}, T={t} tokens, D={d}, {dtype_name(dtype)}", (tokens,),
                          traits={"batch": b, "dtype": dtype_name(dtype)}, sizes={"B": b, "T": t, "D": d}))
    return cases


EXERCISES = {
    "mean_pool": Exercise(
        name="mean_pool",
        signature="mean_pool(tokens (B, T, D)) -> (B, D), the mean of the patch tokens (the CLS token left out)",
        reference=mean_pool,
        make_cases=make_cases,
        grad_args=(0,),
        mistakes=(
            Mistake("cls_included", "You averaged the CLS token too: it is row 0 of every sequence; pool only "
                    "the patch tokens, `tokens[:, 1:].mean(dim=1)`.", lambda tokens: tokens.mean(dim=1)),
            Mistake("last_token_dropped", "You left out the last token, not the first: the CLS token is at "
                    "position 0, so take `tokens[:, 1:]`.", lambda tokens: tokens[:, :-1].mean(dim=1)),
            Mistake("width_averaged", "You averaged over the width D (dim 2): average over the tokens, dim 1, "
                    "to keep one D-vector per image.", lambda tokens: tokens[:, 1:].mean(dim=2)),
        ),
    ),
}
