"""Chapters 03-04: the CLS token and position embeddings.

* ``prepend_cls``                    - one shared, learned CLS row goes first in every sequence;
* ``add_position_embedding``         - token ``t`` gets row ``t`` of a position table, added out of place;
* ``sincos_position_embedding_2d``   - a fixed 2-D sine-cosine table (MAE, "Better plain ViT baselines");
* ``interpolate_position_embedding`` - a learned table resized for another patch grid (a new image size).

Sequences are ``(B, T, D)``; a position table is ``(max_len, D)``, one row per position, the
prefix tokens (CLS) first, then the patches in reading order.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from vitlearn._validate import require_positive_int, require_same_dtype_device, require_tensor


def _require_width(tensor: torch.Tensor, name: str, layout: str, width: int) -> None:
    if tensor.shape[-1] != width:
        raise ValueError(
            f"{name} must have shape {layout} with D={width} (the tokens' width), got {tuple(tensor.shape)}"
        )


def prepend_cls(patch_embedding: torch.Tensor, cls_token: torch.Tensor) -> torch.Tensor:
    """Put one shared CLS token in front of every image's patch sequence.

    patch_embedding ``(B, N, D)``, cls_token ``(1, D)`` -> ``(B, N+1, D)``, row 0 the CLS token.
    Every image gets the same token (a view made by ``expand``, not B copies), so gradients
    from all images add up in ``cls_token``.
    """
    patch_embedding = require_tensor(patch_embedding, "patch_embedding", 3, "(B, N, D)")
    cls_token = require_tensor(cls_token, "cls_token", 2, "(1, D)")
    batch, _, width = patch_embedding.shape
    if cls_token.shape[0] != 1:
        raise ValueError(
            f"cls_token must have shape (1, D): one token shared by all images, got {tuple(cls_token.shape)}"
        )
    _require_width(cls_token, "cls_token", "(1, D)", width)
    require_same_dtype_device(patch_embedding, "patch_embedding", cls_token, "cls_token")
    cls_rows = cls_token.expand(batch, 1, width)  # (B, 1, D): B views of one token
    return torch.cat([cls_rows, patch_embedding], dim=1)  # (B, N+1, D)


def add_position_embedding(token_embedding: torch.Tensor, position_table: torch.Tensor) -> torch.Tensor:
    """Add position ``t``'s row of the table to token ``t`` of every sequence, out of place.

    token_embedding ``(B, T, D)``, position_table ``(max_len, D)`` with ``T <= max_len``
    -> ``(B, T, D)``. The rows ``[:T]`` broadcast over the batch; the input is not modified.
    """
    token_embedding = require_tensor(token_embedding, "token_embedding", 3, "(B, T, D)")
    position_table = require_tensor(position_table, "position_table", 2, "(max_len, D)")
    seq_len, width = token_embedding.shape[1:]
    _require_width(position_table, "position_table", "(max_len, D)", width)
    if seq_len > position_table.shape[0]:
        raise ValueError(
            f"the sequence has T={seq_len} tokens but the position table only max_len={position_table.shape[0]} "
            "rows: for a larger image, resize the table with interpolate_position_embedding"
        )
    require_same_dtype_device(token_embedding, "token_embedding", position_table, "position_table")
    return token_embedding + position_table[:seq_len]  # (B, T, D) + (T, D) broadcast over B


def _sincos_1d(positions: torch.Tensor, dim: int) -> torch.Tensor:
    """``(M,)`` positions -> ``(M, dim)``: ``[sin(pos * omega), cos(pos * omega)]``, omega_i = 10000^(-2i/dim)."""
    omega = 1.0 / 10000 ** (torch.arange(dim // 2, dtype=torch.float64) / (dim // 2))  # (dim/2,)
    angles = positions[:, None] * omega[None, :]  # (M, dim/2)
    return torch.cat([angles.sin(), angles.cos()], dim=1)  # (M, dim)


def sincos_position_embedding_2d(grid_h: int, grid_w: int, dim: int, *,
                                 dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """A fixed 2-D sine-cosine position table for a ``grid_h x grid_w`` patch grid.

    Returns ``(grid_h*grid_w, dim)``, rows in reading order (row ``r*grid_w + c`` is patch
    ``(r, c)``), computed in float64 and returned in ``dtype``. ``dim`` must be divisible by 4.

    The convention of MAE and "Better plain ViT baselines": the first ``dim/2`` channels encode
    the column ``c``, the last ``dim/2`` the row ``r``, each half as
    ``[sin(pos * omega), cos(pos * omega)]`` with ``omega_i = 1 / 10000^(i / (dim/4))``,
    ``i = 0 .. dim/4 - 1``. (MAE's code calls the column half ``emb_h``; the numbers are these.)
    No row for the CLS token: prepend one (MAE uses zeros) if the sequence has one.
    """
    grid_h = require_positive_int(grid_h, "grid_h")
    grid_w = require_positive_int(grid_w, "grid_w")
    dim = require_positive_int(dim, "dim")
    if dim % 4:
        raise ValueError(f"dim must be divisible by 4 (sin and cos for rows and for columns), got {dim}")
    rows, cols = torch.meshgrid(torch.arange(grid_h, dtype=torch.float64),
                                torch.arange(grid_w, dtype=torch.float64), indexing="ij")  # (grid_h, grid_w)
    table = torch.cat([_sincos_1d(cols.flatten(), dim // 2),  # (N, dim/2): the column
                       _sincos_1d(rows.flatten(), dim // 2)], dim=1)  # (N, dim/2): the row
    return table.to(dtype)  # (N, dim)


def _require_grid(grid: object, name: str) -> tuple[int, int]:
    if not isinstance(grid, (tuple, list)) or len(grid) != 2:
        raise ValueError(f"{name} must be a (height, width) pair of patch counts, got {grid!r}")
    return require_positive_int(grid[0], f"{name}[0]"), require_positive_int(grid[1], f"{name}[1]")


def interpolate_position_embedding(table: torch.Tensor, old_grid: tuple[int, int], new_grid: tuple[int, int],
                                   num_prefix_tokens: int = 1) -> torch.Tensor:
    """Resize a learned position table from one patch grid to another, as Hugging Face ViT does.

    table ``(num_prefix + old_h*old_w, D)`` -> ``(num_prefix + new_h*new_w, D)``. The prefix rows
    (CLS) are kept as they are; the patch rows are laid out as the 2-D grid they index,
    ``(1, D, old_h, old_w)``, resized by bicubic interpolation (``align_corners=False``, no
    antialias) and read back in reading order. Differentiable, so it can sit in a forward pass.
    """
    table = require_tensor(table, "table", 2, "(num_prefix + old_h*old_w, D)")
    old_h, old_w = _require_grid(old_grid, "old_grid")
    new_h, new_w = _require_grid(new_grid, "new_grid")
    if isinstance(num_prefix_tokens, bool) or not isinstance(num_prefix_tokens, int) or num_prefix_tokens < 0:
        raise ValueError(f"num_prefix_tokens must be an int >= 0, got {num_prefix_tokens!r}")
    expected_rows = num_prefix_tokens + old_h * old_w
    if table.shape[0] != expected_rows:
        raise ValueError(
            f"table must have shape (num_prefix + old_h*old_w, D) = ({expected_rows}, D) for "
            f"{num_prefix_tokens} prefix token(s) and a {old_h}x{old_w} grid, got {tuple(table.shape)}"
        )
    if (old_h, old_w) == (new_h, new_w):
        return table
    prefix, patch_rows = table[:num_prefix_tokens], table[num_prefix_tokens:]  # (num_prefix, D), (old_h*old_w, D)
    grid = patch_rows.reshape(old_h, old_w, -1).permute(2, 0, 1)[None]  # (1, D, old_h, old_w)
    grid = F.interpolate(grid, size=(new_h, new_w), mode="bicubic", align_corners=False)  # (1, D, new_h, new_w)
    patch_rows = grid[0].permute(1, 2, 0).reshape(new_h * new_w, -1)  # (new_h*new_w, D), reading order
    return torch.cat([prefix, patch_rows], dim=0)  # (num_prefix + new_h*new_w, D)
