"""Exercises of chapters 01-02: image -> patches -> embeddings, by unfold and by conv2d.

Every case has N (patches) different from C*P*P (patch depth) and from D, so a forgotten
transpose can never pass by accident; cases cover batch > 1, non-square images, 1 and 3
channels, patch sizes 2, 3 and 4, float32 and float64.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange

from vitlearn import patches
from vitlearn.checks.core import Case, Exercise, Mistake, Pattern, dtype_name
from vitlearn.checks.hints import BATCH_LOST_HINT

# (batch, channels, height, width, patch, width D, dtype); the first is the example of the blog post
# the course follows, one 3x8x8 image. Their traits tell patterns apart: 1 channel (1, 4), batch of
# one (0, 5), square (0, 6), float32 (0, 3).
_SHAPES = [
    (1, 3, 8, 8, 4, 8, torch.float32),
    (2, 1, 8, 12, 4, 5, torch.float64),
    (3, 3, 6, 10, 2, 7, torch.float64),
    (2, 3, 12, 8, 4, 16, torch.float32),
    (4, 1, 9, 6, 3, 4, torch.float64),
    (1, 3, 6, 9, 3, 5, torch.float64),
    (2, 3, 4, 4, 2, 6, torch.float64),
]


def _label(b: int, c: int, h: int, w: int, p: int, d: int, dtype: torch.dtype) -> str:
    channels = "1 channel" if c == 1 else f"{c} channels"
    return f"batch {b}, {channels}, {h}x{w} image, patch {p}, D={d}, {dtype_name(dtype)}"


def _traits(index: int, b: int, c: int, h: int, w: int, p: int, d: int, dtype: torch.dtype) -> dict:
    return {"batch": b, "channels": c, "square": h == w, "dtype": dtype_name(dtype), "post_example": index == 0}


def _sizes(b: int, c: int, h: int, w: int, p: int, d: int) -> dict[str, int]:
    return {"B": b, "C": c, "P": p, "D": d, "N": (h // p) * (w // p), "C*P*P": c * p * p}


def _random_inputs(seed: int, b: int, c: int, h: int, w: int, p: int, d: int, dtype: torch.dtype):
    g = torch.Generator().manual_seed(seed)
    image = torch.randn(b, c, h, w, generator=g, dtype=dtype)  # (B, C, H, W)
    weight = torch.randn(c * p * p, d, generator=g, dtype=dtype)  # (C*P*P, D)
    return image, weight


def _case(seed: int, args: tuple, label: str, *, images: bool = True) -> Case:
    """Case ``seed`` of ``_SHAPES``; without ``images`` (a weight alone) only its channels and dtype are traits."""
    shape = _SHAPES[seed]
    traits = _traits(seed, *shape)
    if not images:
        traits = {"channels": traits["channels"], "dtype": traits["dtype"]}
    return Case(label, args, traits=traits, sizes=_sizes(*shape[:-1]))


def _naive_cases() -> list[Case]:
    cases = []
    for seed, (b, c, h, w, p, d, dtype) in enumerate(_SHAPES):
        image, weight = _random_inputs(seed, b, c, h, w, p, d, dtype)
        cases.append(_case(seed, (image, p, weight), _label(b, c, h, w, p, d, dtype)))
    return cases


def _kernel_cases() -> list[Case]:
    cases = []
    for seed, (b, c, h, w, p, d, dtype) in enumerate(_SHAPES):
        _, weight = _random_inputs(seed, b, c, h, w, p, d, dtype)
        label = f"weight ({c * p * p}, {d}) -> kernel ({d}, {c}, {p}, {p}), {dtype_name(dtype)}"
        cases.append(_case(seed, (weight, c, p), label, images=False))
    return cases


def _conv_cases() -> list[Case]:
    cases = []
    for seed, (b, c, h, w, p, d, dtype) in enumerate(_SHAPES):
        image, weight = _random_inputs(seed, b, c, h, w, p, d, dtype)
        kernel = patches.weight_to_kernel(weight, c, p)  # (D, C, P, P)
        cases.append(_case(seed, (image, kernel, p), _label(b, c, h, w, p, d, dtype)))
    return cases


CHANNEL_ORDER_PATTERN = Pattern("channels", 1, (
    "Only the 1-channel cases pass: with one channel the order of the values inside a patch cannot go wrong, "
    "with three it can. Flatten each patch channel first, then row, then column, (c p1 p2), as `F.unfold` does."))
SQUARE_PATTERN = Pattern("square", True, (
    "Only the square images pass: somewhere height and width are swapped (H for W, or the grid of patches "
    "(h, w) read as (w, h)). Take each size from its own axis: `H, W = image.shape[-2:]`."))
POST_EXAMPLE_PATTERN = Pattern("post_example", True, min_cases=1, hint=(
    "Only the post's own 1x3x8x8 example passes: read every size from the inputs (`image.shape`, "
    "`weight.shape`, `patch_size`) instead of fixed numbers."))
PATCH_PATTERNS = (CHANNEL_ORDER_PATTERN, SQUARE_PATTERN, POST_EXAMPLE_PATTERN)


def _rearranged(pattern: str):
    """A wrong patch cut written with einops, projected by ``@ weight``."""

    def answer(image, patch_size, weight):
        return rearrange(image, pattern, p1=patch_size, p2=patch_size) @ weight

    return answer


FORGOT_TRANSPOSE_HINT = (
    "`F.unfold` returns (B, C*P*P, N): one patch per *column*. Did you forget "
    "`.transpose(-1, -2)` after `F.unfold`, to get one patch per row before `@ weight`?"
)

IMAGE2EMB_NAIVE = Exercise(
    name="image2emb_naive",
    signature="image2emb_naive(image (B, C, H, W), patch_size P, weight (C*P*P, D)) -> (B, N, D)",
    reference=patches.image2emb_naive,
    make_cases=_naive_cases,
    grad_args=(2, 0),  # the weight first: it is the trained parameter
    patterns=PATCH_PATTERNS,
    mistakes=(
        Mistake(
            "forgot_transpose",
            FORGOT_TRANSPOSE_HINT,
            lambda image, p, weight: F.unfold(image, p, stride=p) @ weight,
        ),
        Mistake(
            "reshape_instead_of_transpose",
            "`F.unfold` gives (B, C*P*P, N); `.reshape(B, N, C*P*P)` keeps the memory order and mixes "
            "pixels of different patches. Swap the axes with `.transpose(-1, -2)` instead of reshaping.",
            lambda image, p, weight: F.unfold(image, p, stride=p).reshape(
                image.shape[0], -1, image.shape[1] * p * p) @ weight,
        ),
        Mistake(
            "overlapping_patches",
            "Your patches overlap: `F.unfold`'s stride defaults to 1. Pass `stride=patch_size` so "
            "the patches tile the image.",
            lambda image, p, weight: F.unfold(image, p).transpose(-1, -2) @ weight,
        ),
        Mistake(
            "channel_last_patch",
            "Inside each patch the values are ordered channel-last (p1 p2 c). The weight expects "
            "F.unfold's order: channel first, then row, then column (c p1 p2).",
            _rearranged("b c (h p1) (w p2) -> b (h w) (p1 p2 c)"),
        ),
        Mistake(
            "column_major_patches",
            "Your patches come out column-major (top to bottom first). ViT reads them left to right, "
            "then top to bottom: in einops write `(h w)`, not `(w h)`.",
            _rearranged("b c (h p1) (w p2) -> b (w h) (c p1 p2)"),
        ),
        Mistake(
            "patch_pixels_column_major",
            "Inside each patch you read pixels column by column (p2 p1). Flatten each patch row by "
            "row, like F.unfold: (c p1 p2).",
            _rearranged("b c (h p1) (w p2) -> b (h w) (c p2 p1)"),
        ),
        Mistake(
            "weight_transposed",
            "The weight is already (C*P*P, D): multiply by `weight` as it is, not `weight.T`.",
            lambda image, p, weight: F.unfold(image, p, stride=p).transpose(-1, -2) @ weight.T,
        ),
        Mistake(
            "batch_flattened",
            BATCH_LOST_HINT,
            lambda image, p, weight: (F.unfold(image, p, stride=p).transpose(-1, -2) @ weight).reshape(
                -1, weight.shape[1]),
        ),
        Mistake(
            "first_image_only",
            BATCH_LOST_HINT,
            lambda image, p, weight: F.unfold(image, p, stride=p).transpose(-1, -2)[0] @ weight,
        ),
        Mistake(
            "pixels_rescaled",
            "The image was rescaled (divided by 255?). Scaling pixels is data preparation; the "
            "embedding must use the image exactly as given.",
            lambda image, p, weight: F.unfold(image / 255, p, stride=p).transpose(-1, -2) @ weight,
        ),
    ),
)

WEIGHT_TO_KERNEL = Exercise(
    name="weight_to_kernel",
    signature="weight_to_kernel(weight (C*P*P, D), in_channels C, patch_size P) -> kernel (D, C, P, P)",
    reference=patches.weight_to_kernel,
    make_cases=_kernel_cases,
    grad_args=(0,),
    patterns=(CHANNEL_ORDER_PATTERN,),
    mistakes=(
        Mistake(
            "reshape_without_transpose",
            "`weight.reshape(D, C, P, P)` reads the (C*P*P, D) matrix row by row, mixing filters. "
            "Output channel d is column d: transpose first, `weight.transpose(0, 1).reshape(D, C, P, P)`.",
            lambda weight, c, p: weight.reshape(-1, c, p, p),
        ),
        Mistake(
            "transpose_only",
            "You transposed the weight to (D, C*P*P) but stopped there: a conv2d kernel is 4-D, "
            "(D, C, P, P). Reshape after the transpose.",
            lambda weight, c, p: weight.T,
        ),
        Mistake(
            "channel_last_kernel",
            "You unpacked each column as (P, P, C), channel-last. F.unfold's patch vectors are "
            "channel first: (C, P, P).",
            lambda weight, c, p: weight.T.reshape(-1, p, p, c).permute(0, 3, 1, 2),
        ),
        Mistake(
            "kernel_rows_and_columns_swapped",
            "Rows and columns inside each kernel are swapped: reshape to (D, C, P, P) with no "
            "extra transpose of the last two dims.",
            lambda weight, c, p: weight.T.reshape(-1, c, p, p).transpose(-1, -2),
        ),
        Mistake(
            "in_out_swapped",
            "conv2d kernels are (out_channels, in_channels, kH, kW) = (D, C, P, P): the model width D "
            "comes first, the image channels second.",
            lambda weight, c, p: weight.T.reshape(-1, c, p, p).transpose(0, 1),
        ),
        Mistake(
            "out_channels_last",
            "You kept D last: (C, P, P, D). conv2d wants the output channels first, (D, C, P, P).",
            lambda weight, c, p: weight.reshape(c, p, p, -1),
        ),
        Mistake(
            "flipped_kernel",
            "Don't flip the kernel: `F.conv2d` computes a cross-correlation (no flip), exactly the "
            "dot product of each patch with a column of the weight.",
            lambda weight, c, p: torch.flip(weight.T.reshape(-1, c, p, p), dims=(-2, -1)),
        ),
    ),
)


def _feature_map(image, kernel, stride):
    return F.conv2d(image, kernel, stride=stride)  # (B, D, H/P, W/P)


IMAGE2EMB_CONV = Exercise(
    name="image2emb_conv",
    signature="image2emb_conv(image (B, C, H, W), kernel (D, C, P, P), stride P) -> (B, N, D)",
    reference=patches.image2emb_conv,
    make_cases=_conv_cases,
    grad_args=(1, 0),  # the kernel first: it is the trained parameter
    patterns=PATCH_PATTERNS,
    mistakes=(
        Mistake(
            "forgot_transpose",
            "The conv output flattens to (B, D, N): channels first. Did you forget "
            "`.transpose(1, 2)` (or `-1, -2`) to get one token per row, (B, N, D)?",
            lambda image, kernel, s: _feature_map(image, kernel, s).flatten(2),
        ),
        Mistake(
            "reshape_instead_of_transpose",
            "Reshaping (B, D, h, w) straight to (B, N, D) mixes channels and positions. Flatten to "
            "(B, D, N) first, then `.transpose(1, 2)`.",
            lambda image, kernel, s: _feature_map(image, kernel, s).reshape(image.shape[0], -1, kernel.shape[0]),
        ),
        Mistake(
            "forgot_stride",
            "Your patches overlap: `F.conv2d`'s stride defaults to 1. Pass `stride=stride` so each "
            "output pixel sees its own patch.",
            lambda image, kernel, s: F.conv2d(image, kernel).flatten(2).transpose(1, 2),
        ),
        Mistake(
            "hard_coded_stride",
            "You ignored the `stride` argument (hard-coded 4?). Use the stride you are given.",
            lambda image, kernel, s: F.conv2d(image, kernel, stride=4).flatten(2).transpose(1, 2),
        ),
        Mistake(
            "column_major_patches",
            "Your patches come out column-major (top to bottom first). Flatten the (h, w) map row by "
            "row: `flatten(2)` on (B, D, h, w), without swapping h and w.",
            lambda image, kernel, s: _feature_map(image, kernel, s).transpose(-1, -2).flatten(2).transpose(1, 2),
        ),
        Mistake(
            "batch_flattened",
            BATCH_LOST_HINT,
            lambda image, kernel, s: _feature_map(image, kernel, s).flatten(2).transpose(1, 2).reshape(
                -1, kernel.shape[0]),
        ),
        Mistake(
            "same_padding",
            "Don't pad: with `padding='same'` the conv slides one pixel at a time over a padded image. "
            "Patches need `stride=P` and no padding.",
            lambda image, kernel, s: F.conv2d(image, kernel, padding="same").flatten(2).transpose(1, 2),
        ),
    ),
)

EXERCISES = {e.name: e for e in (IMAGE2EMB_NAIVE, WEIGHT_TO_KERNEL, IMAGE2EMB_CONV)}
