"""Input checks shared by every reference: clear errors instead of deep PyTorch tracebacks."""

from __future__ import annotations

import torch


def require_tensor(value: object, name: str, ndim: int, layout: str) -> torch.Tensor:
    """Return ``value`` if it is a floating-point tensor with ``ndim`` dims, else raise.

    ``layout`` names the dims for the message, e.g. ``"(B, C, H, W)"``.
    """
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of shape {layout}, got {type(value).__name__}")
    if value.ndim != ndim:
        raise ValueError(
            f"{name} must be {ndim}-D with shape {layout}, got {value.ndim}-D shape {tuple(value.shape)}"
        )
    if not value.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got dtype {value.dtype}")
    return value


def require_tokens(value: object, dim: int, name: str = "x", length: str = "T") -> torch.Tensor:
    """Return ``value`` if it is a ``(B, length, dim)`` floating-point token tensor, else raise.

    ``length`` names the sequence dim for the message: ``"T"`` for queries, ``"S"`` for a memory.
    """
    value = require_tensor(value, name, 3, f"(B, {length}, D)")
    if value.shape[-1] != dim:
        raise ValueError(f"{name} must have shape (B, {length}, D) = (B, {length}, {dim}), got {tuple(value.shape)}")
    return value


def require_positive_int(value: object, name: str) -> int:
    """Return ``value`` if it is a positive int (bools excluded), else raise."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return value


def require_divisible(height: int, width: int, patch_size: int) -> None:
    """Raise unless an H x W image splits into whole P x P patches."""
    if height % patch_size or width % patch_size:
        raise ValueError(
            f"image height and width must be divisible by the patch size {patch_size}, "
            f"got H={height}, W={width} (crop or resize to a multiple of {patch_size})"
        )


def require_same_dtype_device(a: torch.Tensor, a_name: str, b: torch.Tensor, b_name: str) -> None:
    """Raise unless two tensors share dtype and device (matmul and conv need both)."""
    if a.dtype != b.dtype:
        raise TypeError(f"{a_name} and {b_name} must share a dtype, got {a.dtype} and {b.dtype}")
    if a.device != b.device:
        raise ValueError(f"{a_name} and {b_name} must be on one device, got {a.device} and {b.device}")
