"""Chapter 01-02: an image becomes a sequence of patch embeddings.

Three views of one operation, all giving ``(B, N, D)`` with patches in reading order
(left to right, then top to bottom), ``N = (H/P) * (W/P)``:

* ``image2emb_naive``  - cut patches with ``F.unfold``, project them with ``@ weight``;
* ``image2emb_conv``   - one ``F.conv2d`` whose stride equals its kernel size;
* ``patchify``         - the einops spelling of the cut, with ``unpatchify`` as its inverse.

Each patch vector is ordered channel, then row, then column inside the patch: ``(c p1 p2)``,
the order ``F.unfold`` uses and the order ``weight_to_kernel`` relies on.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange

from vitlearn._validate import (
    require_divisible,
    require_positive_int,
    require_same_dtype_device,
    require_tensor,
)


def _check_image(image: object, patch_size: object) -> tuple[torch.Tensor, int]:
    image = require_tensor(image, "image", 4, "(B, C, H, W)")
    patch_size = require_positive_int(patch_size, "patch_size")
    require_divisible(image.shape[-2], image.shape[-1], patch_size)
    return image, patch_size


def patchify(image: torch.Tensor, patch_size: int) -> torch.Tensor:
    """Cut an image into flattened, non-overlapping patches in reading order.

    ``(B, C, H, W)`` -> ``(B, N, C*P*P)`` with ``N = (H/P)*(W/P)``.
    """
    image, p = _check_image(image, patch_size)
    return rearrange(image, "b c (h p1) (w p2) -> b (h w) (c p1 p2)", p1=p, p2=p)  # (B, N, C*P*P)


def unpatchify(patches: torch.Tensor, patch_size: int, height: int, width: int) -> torch.Tensor:
    """Inverse of :func:`patchify`: ``(B, N, C*P*P)`` -> ``(B, C, H, W)``."""
    patches = require_tensor(patches, "patches", 3, "(B, N, C*P*P)")
    p = require_positive_int(patch_size, "patch_size")
    require_divisible(height, width, p)
    grid_h, grid_w = height // p, width // p
    if patches.shape[1] != grid_h * grid_w or patches.shape[2] % (p * p):
        raise ValueError(
            f"patches must have shape (B, {grid_h * grid_w}, C*{p * p}) for a {height}x{width} image "
            f"and patch size {p}, got {tuple(patches.shape)}"
        )
    return rearrange(patches, "b (h w) (c p1 p2) -> b c (h p1) (w p2)", h=grid_h, p1=p, p2=p)


def image2emb_naive(image: torch.Tensor, patch_size: int, weight: torch.Tensor) -> torch.Tensor:
    """Patch embeddings by ``F.unfold`` and one matrix product (the "DNN perspective").

    image ``(B, C, H, W)``, weight ``(C*P*P, D)`` -> ``(B, N, D)``.
    """
    image, p = _check_image(image, patch_size)
    weight = require_tensor(weight, "weight", 2, "(C*P*P, D)")
    patch_depth = image.shape[1] * p * p
    if weight.shape[0] != patch_depth:
        raise ValueError(
            f"weight must have shape (C*P*P, D) = ({patch_depth}, D) for {image.shape[1]} channel(s) "
            f"and patch size {p}, got {tuple(weight.shape)}"
        )
    require_same_dtype_device(image, "image", weight, "weight")
    columns = F.unfold(image, kernel_size=p, stride=p)  # (B, C*P*P, N): one patch per column
    patches = columns.transpose(-1, -2)  # (B, N, C*P*P): one patch per row
    return patches @ weight  # (B, N, D)


def weight_to_kernel(weight: torch.Tensor, in_channels: int, patch_size: int) -> torch.Tensor:
    """Reshape the patch-projection matrix into the equivalent conv2d kernel.

    weight ``(C*P*P, D)`` -> kernel ``(D, C, P, P)`` (out channels, in channels, kH, kW).
    Column ``d`` of ``weight`` becomes output channel ``d``'s filter.
    """
    weight = require_tensor(weight, "weight", 2, "(C*P*P, D)")
    c = require_positive_int(in_channels, "in_channels")
    p = require_positive_int(patch_size, "patch_size")
    if weight.shape[0] != c * p * p:
        raise ValueError(
            f"weight must have shape (C*P*P, D) = ({c * p * p}, D) for in_channels={c} "
            f"and patch_size={p}, got {tuple(weight.shape)}"
        )
    return weight.transpose(0, 1).reshape(-1, c, p, p)  # (D, C*P*P) -> (D, C, P, P)


def image2emb_conv(image: torch.Tensor, kernel: torch.Tensor, stride: int) -> torch.Tensor:
    """Patch embeddings by one convolution (the "CNN perspective").

    image ``(B, C, H, W)``, kernel ``(D, C, P, P)`` with ``stride == P`` -> ``(B, N, D)``.
    """
    image = require_tensor(image, "image", 4, "(B, C, H, W)")
    kernel = require_tensor(kernel, "kernel", 4, "(D, C, P, P)")
    stride = require_positive_int(stride, "stride")
    d, c, kh, kw = kernel.shape
    if c != image.shape[1] or kh != kw:
        raise ValueError(
            f"kernel must have shape (D, C, P, P) with C={image.shape[1]} (the image's channels), "
            f"got {tuple(kernel.shape)}"
        )
    if stride != kh:
        raise ValueError(f"stride must equal the patch size {kh} so that patches do not overlap, got {stride}")
    require_divisible(image.shape[-2], image.shape[-1], stride)
    require_same_dtype_device(image, "image", kernel, "kernel")
    feature_map = F.conv2d(image, kernel, stride=stride)  # (B, D, H/P, W/P)
    return feature_map.flatten(2).transpose(1, 2)  # (B, D, N) -> (B, N, D)
