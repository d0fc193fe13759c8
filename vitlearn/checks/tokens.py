"""Exercises of chapters 03-04: prepend the CLS token, add position embeddings, resize the table.

Sequence lengths always differ from the width D, so a token axis swapped with the channel
axis cannot pass by accident; cases cover batch > 1, float32 and float64, square and
non-square patch grids, upsampling and downsampling.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from vitlearn import tokens
from vitlearn.checks.core import Case, Exercise, Mistake, Pattern, dtype_name
from vitlearn.checks.hints import BATCH_LOST_HINT


def _randn(generator: torch.Generator, dtype: torch.dtype, *shape: int) -> torch.Tensor:
    return torch.randn(*shape, generator=generator, dtype=dtype)


# ---- prepend_cls ------------------------------------------------------------------------------------

# (batch, patches N, width D, dtype); the first is the blog post's example (one image of 4 patches).
_CLS_SHAPES = [
    (1, 4, 8, torch.float32),
    (2, 6, 5, torch.float64),
    (3, 12, 7, torch.float32),
    (4, 5, 16, torch.float64),
    (1, 9, 6, torch.float64),
]


def _cls_cases() -> list[Case]:
    cases = []
    for seed, (b, n, d, dtype) in enumerate(_CLS_SHAPES):
        g = torch.Generator().manual_seed(seed)
        patch_embedding, cls_token = _randn(g, dtype, b, n, d), _randn(g, dtype, 1, d)
        cases.append(Case(f"batch {b}, N={n} patches, D={d}, {dtype_name(dtype)}", (patch_embedding, cls_token),
                          traits={"batch": b, "dtype": dtype_name(dtype)}, sizes={"B": b, "N": n, "D": d}))
    return cases


def _cls_rows(x: torch.Tensor, cls: torch.Tensor) -> torch.Tensor:
    return cls.expand(x.shape[0], 1, x.shape[2])  # (B, 1, D)


def _cls_for_first_image_only(x, cls):
    cls_rows = torch.zeros(x.shape[0], 1, x.shape[2], dtype=x.dtype)
    cls_rows[0] = cls  # the other images get zeros
    return torch.cat([cls_rows, x], dim=1)


PREPEND_CLS = Exercise(
    name="prepend_cls",
    signature="prepend_cls(patch_embedding (B, N, D), cls_token (1, D)) -> (B, N+1, D), CLS row first",
    reference=tokens.prepend_cls,
    make_cases=_cls_cases,
    grad_args=(0, 1),
    patterns=(Pattern("batch", 1, (
        "Only the batch-of-one case passes: every image needs its own copy of the CLS token. Give the (1, D) "
        "token one row per image, `cls_token.expand(B, 1, D)`, then `torch.cat([cls_rows, patch_embedding], dim=1)`.")),),
    mistakes=(
        Mistake(
            "cls_appended",
            "The CLS token went to the end of the sequence: it must come first, "
            "`torch.cat([cls_rows, patch_embedding], dim=1)`, so that the classifier can read position 0.",
            lambda x, cls: torch.cat([x, _cls_rows(x, cls)], dim=1),
        ),
        Mistake(
            "cat_on_wrong_dim",
            "You concatenated on the wrong dim: the CLS token is one more *token*, so it joins the "
            "sequence axis, `dim=1` of (B, N, D) (not the batch dim 0 or the channel dim 2).",
            lambda x, cls: torch.cat([_cls_rows(x, cls), x], dim=2),
        ),
        Mistake(
            "post_nested_list",
            "As in the post, `torch.cat([[bs, cls_token], x], dim=1)` puts a Python list inside the list "
            "(TypeError). `torch.cat` takes a list of tensors: first give the token a batch dim, "
            "`cls_token.expand(B, 1, D)`, then `torch.cat([that, x], dim=1)`.",
            lambda x, cls: torch.cat([[x.shape[0], cls], x], dim=1),
        ),
        Mistake(
            "cls_not_batched",
            "`cls_token` is (1, D), 2-D, and the patches are (B, N, D), 3-D: `torch.cat` needs both 3-D. "
            "Give the token one row per image first: `cls_token.expand(B, 1, D)` (or `.repeat`/`tile`).",
            lambda x, cls: torch.cat([cls, x], dim=1),
        ),
        Mistake(
            "cls_detached",
            "The CLS token is a learned parameter: gradients must reach it. Don't `.detach()` it, use "
            "`.data`, or copy it with `torch.tensor(...)`; `expand`, `repeat` and `cat` keep the graph.",
            lambda x, cls: torch.cat([_cls_rows(x, cls.detach()), x], dim=1),
        ),
        Mistake(
            "repeat_on_wrong_axis",
            "`repeat` gave the CLS rows the wrong shape: you need (B, 1, D), one token per image, e.g. "
            "`cls_token.repeat(B, 1, 1)` on the (1, 1, D) token; you repeated along the token axis.",
            lambda x, cls: torch.cat([cls[None].repeat(1, x.shape[0], 1), x], dim=1),
        ),
        Mistake(
            "cls_added",
            "You added the CLS token to every patch. It is a separate token: concatenate it in front "
            "of the sequence, which grows from N to N+1 tokens.",
            lambda x, cls: x + cls,
        ),
        Mistake(
            "first_image_only",
            "Only the first image got the CLS token (the others got zeros): every image needs the same "
            "shared token, `cls_token.expand(B, 1, D)`.",
            _cls_for_first_image_only,
        ),
        Mistake(
            "one_image_only",
            BATCH_LOST_HINT + " You built the sequence for the first image only (the post has bs=1).",
            lambda x, cls: torch.cat([cls[None], x[:1]], dim=1),
        ),
    ),
)


# ---- add_position_embedding ------------------------------------------------------------------------

# (batch, tokens T, width D, table rows max_len, dtype); the first is the blog post's example.
_POSITION_SHAPES = [
    (1, 5, 8, 16, torch.float32),
    (2, 7, 5, 10, torch.float64),
    (3, 13, 6, 20, torch.float32),
    (4, 10, 12, 10, torch.float64),
    (1, 9, 4, 12, torch.float64),
]


def _position_cases() -> list[Case]:
    cases = []
    for seed, (b, t, d, max_len, dtype) in enumerate(_POSITION_SHAPES):
        g = torch.Generator().manual_seed(10 + seed)
        token_embedding, table = _randn(g, dtype, b, t, d), _randn(g, dtype, max_len, d)
        label = f"batch {b}, T={t} tokens, D={d}, table of {max_len} rows, {dtype_name(dtype)}"
        cases.append(Case(label, (token_embedding, table), traits={"batch": b, "dtype": dtype_name(dtype)},
                          sizes={"B": b, "T": t, "D": d}))
    return cases


def _add_in_place(x, table):
    x += table[: x.shape[1]]
    return x


ADD_POSITION_EMBEDDING = Exercise(
    name="add_position_embedding",
    signature="add_position_embedding(token_embedding (B, T, D), position_table (max_len, D)) -> (B, T, D)",
    reference=tokens.add_position_embedding,
    make_cases=_position_cases,
    grad_args=(0, 1),
    mistakes=(
        Mistake(
            "in_place_add",
            "`token_embedding += ...` changes the input in place (erratum 7 in chapter 04): on a tensor that "
            "requires grad PyTorch refuses it, and in a notebook re-running the cell adds the table twice. "
            "Write it out of place: `token_embedding + position_table[:T]`.",
            _add_in_place,
        ),
        Mistake(
            "tiled_on_wrong_axis",
            "The table rows were tiled along the token axis, (B*T, D). Broadcasting needs no tiling: "
            "`token_embedding + position_table[:T]` adds the (T, D) rows to every image "
            "(`torch.tile(rows, [B, 1, 1])` would work too).",
            lambda x, table: x + torch.tile(table[: x.shape[1]], [x.shape[0], 1]),
        ),
        Mistake(
            "whole_table",
            "You added the whole table (max_len rows) to a sequence of T tokens. Take the first T rows, "
            "`position_table[:T]`, with T = token_embedding.shape[1].",
            lambda x, table: x + table,
        ),
        Mistake(
            "rows_from_the_end",
            "You took the *last* T rows of the table. Token t gets row t: use the first T rows, "
            "`position_table[:T]`.",
            lambda x, table: x + table[-x.shape[1]:],
        ),
        Mistake(
            "skipped_row_zero",
            "You skipped row 0 (`position_table[1:T+1]`): row 0 is the CLS token's position, and the "
            "sequence already starts with the CLS token. Use rows `[:T]`.",
            lambda x, table: x + table[1: x.shape[1] + 1],
        ),
        Mistake(
            "table_detached",
            "The position table is learned: gradients must reach it. Don't `.detach()` it, use `.data`, "
            "or wrap it in `torch.no_grad()`.",
            lambda x, table: x + table[: x.shape[1]].detach(),
        ),
        Mistake(
            "table_transposed",
            "The table is (max_len, D): row t is position t's vector. Don't transpose it; "
            "`position_table[:T]` is already (T, D).",
            lambda x, table: x + table[: x.shape[1]].T,
        ),
        Mistake(
            "indexed_by_image",
            "You gave each *image* a position (row b for image b). Positions belong to tokens: token t of "
            "every image gets row t, `position_table[:T]` broadcast over the batch.",
            lambda x, table: x + table[: x.shape[0], None],
        ),
    ),
)


# ---- interpolate_position_embedding -----------------------------------------------------------------

# (old grid, new grid, prefix tokens, width D, dtype): up and down, square and not.
_GRID_CASES = [
    ((4, 4), (6, 6), 1, 8, torch.float32),
    ((3, 5), (6, 4), 1, 5, torch.float64),
    ((6, 6), (4, 4), 1, 6, torch.float64),
    ((4, 6), (2, 3), 0, 7, torch.float32),
    ((2, 2), (5, 3), 2, 4, torch.float64),
]


def _interpolation_cases() -> list[Case]:
    cases = []
    for seed, (old, new, prefix, d, dtype) in enumerate(_GRID_CASES):
        g = torch.Generator().manual_seed(20 + seed)
        table = _randn(g, dtype, prefix + old[0] * old[1], d)
        label = f"{old[0]}x{old[1]} -> {new[0]}x{new[1]} grid, {prefix} prefix token(s), D={d}, {dtype_name(dtype)}"
        traits = {"prefix": prefix, "square": old[0] == old[1] and new[0] == new[1], "dtype": dtype_name(dtype)}
        cases.append(Case(label, (table, old, new, prefix), traits=traits))
    return cases


def _resize_rows(rows, old_grid, new_grid, **options):
    """``(old_h*old_w, D)`` patch rows -> ``(new_h*new_w, D)``; ``options`` change the reference's interpolation."""
    grid = rows.reshape(*old_grid, -1).permute(2, 0, 1)[None]  # (1, D, old_h, old_w)
    grid = F.interpolate(grid, size=tuple(new_grid), **{"mode": "bicubic", "align_corners": False, **options})
    return grid[0].permute(1, 2, 0).reshape(-1, rows.shape[1])  # (new_h*new_w, D)


def _resized_with(**options):
    """The whole resize, prefix kept, with other ``F.interpolate`` options."""

    def answer(table, old_grid, new_grid, num_prefix_tokens=1):
        n = num_prefix_tokens
        return torch.cat([table[:n], _resize_rows(table[n:], old_grid, new_grid, **options)])

    return answer


def _grid_from_the_first_row(table, old_grid, new_grid, num_prefix_tokens=1):
    rows = table[: old_grid[0] * old_grid[1]]  # starts at the CLS row, loses the last patch
    return torch.cat([table[:num_prefix_tokens], _resize_rows(rows, old_grid, new_grid)])


def _resized_as_a_sequence(table, old_grid, new_grid, num_prefix_tokens=1):
    rows = table[num_prefix_tokens:].T[None]  # (1, D, old_h*old_w): a 1-D signal per channel
    rows = F.interpolate(rows, size=new_grid[0] * new_grid[1], mode="linear", align_corners=False)
    return torch.cat([table[:num_prefix_tokens], rows[0].T])


def _reshaped_not_permuted(table, old_grid, new_grid, num_prefix_tokens=1):
    d = table.shape[1]
    grid = table[num_prefix_tokens:].reshape(1, d, *old_grid)  # channels and positions mixed
    grid = F.interpolate(grid, size=tuple(new_grid), mode="bicubic", align_corners=False)
    return torch.cat([table[:num_prefix_tokens], grid.reshape(-1, d)])


INTERPOLATE_POSITION_EMBEDDING = Exercise(
    name="interpolate_position_embedding",
    signature=("interpolate_position_embedding(table (num_prefix + old_h*old_w, D), old_grid (old_h, old_w), "
               "new_grid (new_h, new_w), num_prefix_tokens) -> (num_prefix + new_h*new_w, D)"),
    reference=tokens.interpolate_position_embedding,
    make_cases=_interpolation_cases,
    grad_args=(0,),
    patterns=(
        Pattern("prefix", 1, (
            "Only the cases with exactly one prefix token pass: split the table with `num_prefix_tokens` "
            "(`table[:num_prefix_tokens]`, `table[num_prefix_tokens:]`), not a fixed 1.")),
        Pattern("square", True, (
            "Only the square grids pass: height and width are swapped somewhere. Grids are (rows, columns): "
            "reshape to (old_h, old_w, D) and resize to `size=(new_h, new_w)`.")),
    ),
    mistakes=(
        Mistake(
            "bilinear",
            "You used bilinear interpolation. Hugging Face and timm resize position tables with "
            "`mode=\"bicubic\"`: use it so a pretrained table is resized the same way.",
            _resized_with(mode="bilinear"),
        ),
        Mistake(
            "nearest",
            "You used nearest-neighbour interpolation, which copies rows instead of blending them. "
            "Use `mode=\"bicubic\", align_corners=False`.",
            _resized_with(mode="nearest", align_corners=None),
        ),
        Mistake(
            "align_corners_true",
            "You passed `align_corners=True`, which pins the corner patches' centres to the corners. "
            "Hugging Face uses `align_corners=False`: patch centres sit half a patch in.",
            _resized_with(align_corners=True),
        ),
        Mistake(
            "antialias",
            "You passed `antialias=True`, as timm does. For bicubic it matters even when the grid grows: "
            "PyTorch then switches to PIL's cubic kernel (a=-0.5, no edge padding), and when the grid "
            "shrinks it also blurs. This exercise follows Hugging Face: bicubic without antialias.",
            _resized_with(antialias=True),
        ),
        Mistake(
            "prefix_in_the_grid",
            "Your grid starts at the CLS row: the first `num_prefix_tokens` rows are not patches. Split "
            "them off, keep them as they are, and build the (old_h, old_w) grid from `table[num_prefix_tokens:]`.",
            _grid_from_the_first_row,
        ),
        Mistake(
            "prefix_dropped",
            "The CLS (prefix) rows are missing from your result: put the first `num_prefix_tokens` rows "
            "back in front, `torch.cat([prefix, resized_rows])`.",
            lambda table, old, new, n=1: _resize_rows(table[n:], old, new),
        ),
        Mistake(
            "resized_as_a_sequence",
            "You stretched the patch rows as a 1-D sequence. Positions live on a 2-D grid: reshape the "
            "rows to (old_h, old_w, D), resize in both directions (bicubic), and flatten back.",
            _resized_as_a_sequence,
        ),
        Mistake(
            "height_width_swapped",
            "You laid the patch rows out as a (width, height) grid. Rows are in reading order, so the "
            "grid is `(old_h, old_w)`: reshape to (old_h, old_w, D), then resize to (new_h, new_w).",
            lambda table, old, new, n=1: torch.cat([table[:n], _resize_rows(table[n:], old[::-1], new[::-1])]),
        ),
        Mistake(
            "reshape_instead_of_permute",
            "`rows.reshape(1, D, h, w)` mixes channels and positions: the rows are (h*w, D), channel "
            "last. Reshape to (h, w, D) and then `permute(2, 0, 1)` (and the reverse afterwards).",
            _reshaped_not_permuted,
        ),
    ),
)

EXERCISES = {e.name: e for e in (PREPEND_CLS, ADD_POSITION_EMBEDDING, INTERPOLATE_POSITION_EMBEDDING)}
