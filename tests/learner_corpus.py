"""A corpus of learner answers to the 14 exercises, written the way learners write them.

``WRONG`` holds plausible wrong answers (einsum, loops, numpy round trips, ``nn`` modules built
inside the function, in-place and dtype habits, shape slips, ...), each with the words that
feedback naming its *fix* must contain (``must``) and words that would mislead this learner
(``must_not``). ``RIGHT`` holds correct alternatives to the references: every one must be
accepted. Each answer is source code, compiled by :func:`compile_answer` into a fresh namespace
with its source registered in ``linecache`` (as IPython does for a cell), so that
``inspect.getsource`` works on it like on a notebook function.

Feedback is judged on :func:`feedback_text`: the check's message without the verdict line and
the per-case lines (their case labels name shapes, channels and batches, which would satisfy
``must`` words or trip ``must_not`` words by accident).

Used by ``tests/test_learner_corpus.py`` and ``benchmarks/feedback_corpus.py``.
"""

from __future__ import annotations

import linecache
import math
import textwrap
from dataclasses import dataclass
from typing import Any, Callable

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn


@dataclass(frozen=True)
class Wrong:
    exercise: str
    name: str  # short unique id
    code: str
    must: tuple[str, ...]  # words the feedback must contain (case-insensitive; "a|b": either): the fix
    must_not: tuple[str, ...] = ()  # words that would be a misleading hint for this code (same rules)
    why: str = ""  # one line: what the learner did wrong


@dataclass(frozen=True)
class Right:
    exercise: str
    name: str
    code: str


def _src(code: str) -> str:
    return textwrap.dedent(code).strip("\n") + "\n"


def compile_answer(code: str, name: str, filename: str) -> Callable[..., Any]:
    """Exec ``code`` in a fresh namespace with a notebook's imports and return its function ``name``.

    The source is registered in ``linecache`` under ``filename`` (as IPython does for cells), so
    ``inspect.getsource`` works on the function.
    """
    linecache.cache[filename] = (len(code), None, code.splitlines(True), filename)
    namespace: dict[str, Any] = {"__name__": "__learner__", "torch": torch, "F": F, "nn": nn,
                                 "math": math, "rearrange": rearrange}
    exec(compile(code, filename, "exec"), namespace)  # noqa: S102 - a learner's answer, written here
    return namespace[name]


def answer_filename(answer: Wrong | Right) -> str:
    """A cell-like file name, unique per answer."""
    kind = "wrong" if isinstance(answer, Wrong) else "right"
    return f"<learner-{kind}-{answer.exercise}-{answer.name}>"


def load(answer: Wrong | Right) -> Callable[..., Any]:
    return compile_answer(answer.code, answer.exercise, answer_filename(answer))


def _case_labels(exercise: str) -> list[str]:
    from vitlearn.checks import EXERCISES

    return [case.label for case in EXERCISES[exercise].make_cases()]


def feedback_text(message: str, exercise: str | None = None) -> str:
    """The message without the verdict line, the per-case lines and the case labels.

    Case labels ("batch 1, 3 channels, ...", "residual=0.5") would satisfy ``must`` words or trip
    ``must_not`` words by accident, so every label of ``exercise``'s cases is cut out of the text.
    """
    try:
        from vitlearn.checks.core import FAIL, PASS
    except ImportError:  # the markers moved: keep every line
        PASS, FAIL = "\x00", "\x00"
    labels = sorted(_case_labels(exercise), key=len, reverse=True) if exercise else []
    kept = []
    for line in message.splitlines():
        if line.strip().startswith((PASS, FAIL)):
            continue
        for label in labels:
            line = line.replace(label, "")
        kept.append(line)
    return "\n".join(kept)


def _contains(text: str, word: str) -> bool:
    """``word`` in ``text``, case-insensitive; ``"a|b"`` is satisfied by either spelling."""
    return any(alternative.lower() in text for alternative in word.split("|"))


def names_fix(answer: Wrong, message: str) -> bool:
    """The feedback contains every ``must`` word."""
    text = feedback_text(message, answer.exercise).lower()
    return all(_contains(text, word) for word in answer.must)


def missing_words(answer: Wrong, message: str) -> list[str]:
    text = feedback_text(message, answer.exercise).lower()
    return [word for word in answer.must if not _contains(text, word)]


def misleading_words(answer: Wrong, message: str) -> list[str]:
    """The ``must_not`` words present in the feedback."""
    text = feedback_text(message, answer.exercise).lower()
    return [word for word in answer.must_not if _contains(text, word)]


def _w(exercise: str, name: str, must: tuple[str, ...], code: str, must_not: tuple[str, ...] = (),
       why: str = "") -> Wrong:
    return Wrong(exercise, name, _src(code), must, must_not, why)


def _r(exercise: str, name: str, code: str) -> Right:
    return Right(exercise, name, _src(code))


# Hints about an image, or about hard-coding the post's example, are false for these learners.
_NOT_AN_IMAGE = ("image.shape", "1x3x8x8")
_NOT_HARD_CODED = ("hard-cod|fixed number", "1x3x8x8")

WRONG: list[Wrong] = [
    # ---- image2emb_naive ------------------------------------------------------------------------
    _w("image2emb_naive", "naive_nn_unfold_no_transpose", ("transpose",), '''
        def image2emb_naive(image, patch_size, weight):
            unfold = nn.Unfold(kernel_size=patch_size, stride=patch_size)
            patches = unfold(image)  # one patch per ... row?
            return patches @ weight
        ''', why="nn.Unfold gives (B, C*P*P, N); multiplied without transposing to (B, N, C*P*P)"),
    _w("image2emb_naive", "naive_tensor_unfold_view", ("reshape|contiguous",), '''
        def image2emb_naive(image, patch_size, weight):
            B, C, H, W = image.shape
            p = patch_size
            patches = image.unfold(2, p, p).unfold(3, p, p)   # (B, C, H/p, W/p, p, p)
            patches = patches.permute(0, 2, 3, 1, 4, 5)       # (B, H/p, W/p, C, p, p)
            patches = patches.view(B, -1, C * p * p)
            return patches @ weight
        ''', must_not=("channel",), why=".view on a permuted (non-contiguous) tensor raises"),
    _w("image2emb_naive", "naive_loop_channels_last", ("channel",), '''
        def image2emb_naive(image, patch_size, weight):
            B, C, H, W = image.shape
            P = patch_size
            batch = []
            for b in range(B):
                patches = []
                for i in range(0, H, P):
                    for j in range(0, W, P):
                        patch = image[b, :, i:i + P, j:j + P]              # (C, P, P)
                        patches.append(patch.permute(1, 2, 0).flatten())  # pixel by pixel, RGB together
                batch.append(torch.stack(patches))
            return torch.stack(batch) @ weight
        ''', must_not=("reading order", "transpose"),
       why="flattens each patch as (P, P, C) like an HWC picture; the weight expects (C, P, P)"),
    _w("image2emb_naive", "naive_rearrange_channels_last", ("channel",), '''
        def image2emb_naive(image, patch_size, weight):
            p = patch_size
            patches = rearrange(image, "b c (h p1) (w p2) -> b (h w) (p1 p2 c)", p1=p, p2=p)
            return patches @ weight
        ''', must_not=("reading order",), why="patch vectors ordered (p1 p2 c) instead of (c p1 p2)"),
    _w("image2emb_naive", "naive_plain_reshape", ("unfold",), '''
        def image2emb_naive(image, patch_size, weight):
            B, C, H, W = image.shape
            N = (H // patch_size) * (W // patch_size)
            patches = image.reshape(B, N, -1)   # N patches of C*P*P numbers
            return patches @ weight
        ''', why="a reshape regroups consecutive pixels of a row, it does not cut P x P patches"),
    _w("image2emb_naive", "naive_float_cast", ("dtype",), '''
        def image2emb_naive(image, patch_size, weight):
            image = image.float()
            weight = weight.float()
            patches = F.unfold(image, kernel_size=patch_size, stride=patch_size).transpose(1, 2)
            return patches @ weight
        ''', must_not=("channel", "reading order", "transpose"), why="casts to float32: float64 inputs come back float32"),
    _w("image2emb_naive", "naive_hardcoded_example", ("hard-cod|fixed number",), '''
        def image2emb_naive(image, patch_size, weight):
            # the post's example: 1 image, 3 channels, 8x8 pixels, patch 4 -> 4 patches of 48 numbers
            patches = image.reshape(1, 3, 2, 4, 2, 4).permute(0, 2, 4, 1, 3, 5).reshape(1, 4, 48)
            return patches @ weight
        ''', must_not=("transpose", "channel"), why="sizes hard-coded from the 1x3x8x8 example"),
    _w("image2emb_naive", "naive_loop_column_major", ("order",), '''
        def image2emb_naive(image, patch_size, weight):
            B, C, H, W = image.shape
            P = patch_size
            patches = []
            for j in range(0, W, P):          # across the image...
                for i in range(0, H, P):      # ...and down each column
                    patches.append(image[:, :, i:i + P, j:j + P].reshape(B, -1))
            return torch.stack(patches, dim=1) @ weight
        ''', must_not=("channel", "dtype"), why="patches column by column instead of in reading order"),
    _w("image2emb_naive", "naive_numpy_round_trip", ("gradient|autograd",), '''
        import numpy as np

        def image2emb_naive(image, patch_size, weight):
            x = image.detach().numpy()
            B, C, H, W = x.shape
            p = patch_size
            x = x.reshape(B, C, H // p, p, W // p, p).transpose(0, 2, 4, 1, 3, 5).reshape(B, -1, C * p * p)
            out = x @ weight.detach().numpy()
            return torch.from_numpy(out)
        ''', must_not=("dtype", "channel"), why="numpy round trip: no gradient reaches the trainable weight"),
    _w("image2emb_naive", "naive_f_linear", ("F.linear",), '''
        def image2emb_naive(image, patch_size, weight):
            patches = F.unfold(image, patch_size, stride=patch_size).transpose(1, 2)   # (B, N, C*P*P)
            return F.linear(patches, weight)
        ''', must_not=("channel",), why="F.linear multiplies by weight.T; this weight is already (C*P*P, D)"),
    _w("image2emb_naive", "naive_conv_module_no_transpose", ("transpose",), '''
        def image2emb_naive(image, patch_size, weight):
            C, D = image.shape[1], weight.shape[1]
            conv = nn.Conv2d(C, D, kernel_size=patch_size, stride=patch_size, bias=False)
            conv.weight.data = weight.reshape(D, C, patch_size, patch_size)
            out = conv(image)                       # (B, D, H/P, W/P)
            return out.flatten(2).transpose(1, 2)   # (B, N, D)
        ''', must_not=("dtype",), why="reshapes the (C*P*P, D) weight into a kernel without transposing it"),
    _w("image2emb_naive", "naive_squeeze", ("squeeze",), '''
        def image2emb_naive(image, patch_size, weight):
            patches = F.unfold(image, kernel_size=patch_size, stride=patch_size).transpose(1, 2)
            return (patches @ weight).squeeze()
        ''', must_not=("transpose", "channel"), why="squeeze() drops the batch dimension of a batch of 1"),
    _w("image2emb_naive", "naive_first_image_only", ("batch",), '''
        def image2emb_naive(image, patch_size, weight):
            img = image[0]                        # (C, H, W)
            C, H, W = img.shape
            P = patch_size
            patches = img.reshape(C, H // P, P, W // P, P).permute(1, 3, 0, 2, 4).reshape(-1, C * P * P)
            return (patches @ weight).unsqueeze(0)   # put the batch dimension back
        ''', must_not=("channel", "reading order"), why="embeds only image[0] of the batch"),
    _w("image2emb_naive", "naive_float_grid_size", ("//",), '''
        def image2emb_naive(image, patch_size, weight):
            B, C, H, W = image.shape
            P = patch_size
            h, w = H / P, W / P
            x = image.reshape(B, C, h, P, w, P).permute(0, 2, 4, 1, 3, 5)
            return x.reshape(B, h * w, C * P * P) @ weight
        ''', why="H / P is a float: reshape needs ints"),
    _w("image2emb_naive", "naive_loop_overlapping", ("overlap",), '''
        def image2emb_naive(image, patch_size, weight):
            B, C, H, W = image.shape
            P = patch_size
            patches = []
            for i in range(H // P):
                for j in range(W // P):
                    patches.append(image[:, :, i:i + P, j:j + P].reshape(B, -1))   # patch (i, j)
            return torch.stack(patches, dim=1) @ weight
        ''', must_not=("channel", "dtype"), why="patch (i, j) starts at pixel (i, j), not (i*P, j*P): patches overlap"),
    _w("image2emb_naive", "naive_zeros_buffer", ("dtype",), '''
        def image2emb_naive(image, patch_size, weight):
            B, C, H, W = image.shape
            P = patch_size
            patches = torch.zeros(B, (H // P) * (W // P), C * P * P)
            n = 0
            for i in range(0, H, P):
                for j in range(0, W, P):
                    patches[:, n] = image[:, :, i:i + P, j:j + P].reshape(B, -1)
                    n += 1
            return patches @ weight
        ''', must_not=_NOT_HARD_CODED, why="torch.zeros without dtype: a float32 buffer meets a float64 weight"),

    # ---- weight_to_kernel -----------------------------------------------------------------------
    _w("weight_to_kernel", "w2k_view_no_transpose", ("transpose",), '''
        def weight_to_kernel(weight, in_channels, patch_size):
            D = weight.shape[1]
            return weight.view(D, in_channels, patch_size, patch_size)
        ''', must_not=("dtype",), why="reads the (C*P*P, D) weight as if it were (D, C*P*P)"),
    _w("weight_to_kernel", "w2k_channels_last", ("channel",), '''
        def weight_to_kernel(weight, in_channels, patch_size):
            # rows of the weight: pixel (row, col), then the colour
            k = weight.reshape(patch_size, patch_size, in_channels, -1)   # (P, P, C, D)
            return k.permute(3, 2, 0, 1)                                  # (D, C, P, P)
        ''', must_not=("dtype",), why="assumes the rows are ordered (p1 p2 c); they are (c p1 p2)"),
    _w("weight_to_kernel", "w2k_zeros_loop", ("dtype",), '''
        def weight_to_kernel(weight, in_channels, patch_size):
            D = weight.shape[1]
            kernel = torch.zeros(D, in_channels, patch_size, patch_size)
            for d in range(D):
                kernel[d] = weight[:, d].reshape(in_channels, patch_size, patch_size)
            return kernel
        ''', must_not=("transpose",), why="torch.zeros without dtype: float64 weights come back float32"),
    _w("weight_to_kernel", "w2k_hardcoded", ("hard-cod|fixed number",), '''
        def weight_to_kernel(weight, in_channels, patch_size):
            return weight.t().reshape(8, 3, 4, 4)   # D=8, C=3, P=4
        ''', must_not=("transpose",), why="sizes hard-coded from the example"),
    _w("weight_to_kernel", "w2k_float_division", ("//",), '''
        def weight_to_kernel(weight, in_channels, patch_size):
            D = weight.numel() / (in_channels * patch_size * patch_size)
            return weight.T.reshape(D, in_channels, patch_size, patch_size)
        ''', why="D computed with / is a float"),
    _w("weight_to_kernel", "w2k_extra_batch_dim", ("unsqueeze",), '''
        def weight_to_kernel(weight, in_channels, patch_size):
            kernel = weight.T.reshape(-1, in_channels, patch_size, patch_size)
            return kernel.unsqueeze(0)   # conv layers want a batch dimension
        ''', must_not=("transpose",), why="adds a leading dimension: the kernel is (D, C, P, P)"),

    # ---- image2emb_conv -------------------------------------------------------------------------
    _w("image2emb_conv", "conv_no_transpose", ("transpose",), '''
        def image2emb_conv(image, kernel, stride):
            out = F.conv2d(image, kernel, stride=stride)   # (B, D, H/P, W/P)
            return out.flatten(2)
        ''', why="returns (B, D, N): the tokens must be rows, (B, N, D)"),
    _w("image2emb_conv", "conv_reshape_not_transpose", ("transpose",), '''
        def image2emb_conv(image, kernel, stride):
            out = F.conv2d(image, kernel, stride=stride)   # (B, D, h, w)
            B, D = out.shape[:2]
            return out.reshape(B, -1, D)
        ''', must_not=("dtype",), why="reshapes (B, D, h, w) to (B, N, D) instead of transposing"),
    _w("image2emb_conv", "conv_module_copied_weight", ("F.conv2d",), '''
        def image2emb_conv(image, kernel, stride):
            D, C, P, _ = kernel.shape
            conv = nn.Conv2d(C, D, kernel_size=P, stride=stride, bias=False)
            with torch.no_grad():
                conv.weight.copy_(kernel)
            return conv(image).flatten(2).transpose(1, 2)
        ''', must_not=_NOT_HARD_CODED,
       why="nn.Conv2d with a copied float32 weight: wrong dtype and no gradient to the kernel"),
    _w("image2emb_conv", "conv_module_default_bias", ("bias",), '''
        def image2emb_conv(image, kernel, stride):
            D, C, P, _ = kernel.shape
            conv = nn.Conv2d(C, D, P, stride=stride).to(image.dtype)
            conv.weight = nn.Parameter(kernel)
            return conv(image).flatten(2).transpose(1, 2)
        ''', must_not=("transpose", "dtype"), why="nn.Conv2d adds its random bias"),
    _w("image2emb_conv", "conv_no_stride", ("stride",), '''
        def image2emb_conv(image, kernel, stride):
            out = F.conv2d(image, kernel)
            return out.flatten(2).transpose(1, 2)
        ''', why="forgets stride=P: overlapping windows, too many tokens"),
    _w("image2emb_conv", "conv_permute_columns_first", ("order",), '''
        def image2emb_conv(image, kernel, stride):
            out = F.conv2d(image, kernel, stride=stride)   # (B, D, h, w)
            B, D = out.shape[:2]
            return out.permute(0, 3, 2, 1).reshape(B, -1, D)
        ''', must_not=("channel", "dtype"), why="permutes to (B, w, h, D): tokens column by column"),
    _w("image2emb_conv", "conv_kernel_data", ("gradient|autograd",), '''
        def image2emb_conv(image, kernel, stride):
            out = F.conv2d(image, kernel.data, stride=stride)
            return out.flatten(2).transpose(1, 2)
        ''', must_not=("transpose", "dtype"), why="kernel.data: no gradient reaches the trainable kernel"),
    _w("image2emb_conv", "conv_hardcoded_stride", ("stride",), '''
        def image2emb_conv(image, kernel, stride):
            out = F.conv2d(image, kernel, stride=4)   # patch size 4
            return out.flatten(2).transpose(1, 2)
        ''', why="stride hard-coded to the example's 4"),
    _w("image2emb_conv", "conv_squeeze_batch", ("batch",), '''
        def image2emb_conv(image, kernel, stride):
            out = F.conv2d(image, kernel, stride=stride).squeeze(0)   # (D, h, w)
            return out.flatten(1).T                                    # (N, D)
        ''', why="written for one image: squeeze(0) and .T lose the batch dimension"),
    _w("image2emb_conv", "conv_float_cast", ("dtype",), '''
        def image2emb_conv(image, kernel, stride):
            out = F.conv2d(image.float(), kernel.float(), stride=stride)
            return out.flatten(2).transpose(1, 2)
        ''', must_not=("transpose", "order"), why="casts to float32"),

    # ---- prepend_cls ------------------------------------------------------------------------------
    _w("prepend_cls", "cls_2d_token_cat", ("(B, 1, D)",), '''
        def prepend_cls(patch_embedding, cls_token):
            return torch.cat([cls_token, patch_embedding], dim=1)
        ''', must_not=_NOT_AN_IMAGE, why="concatenates the 2-D (1, D) token with the 3-D patches"),
    _w("prepend_cls", "cls_unsqueeze_no_batch", ("(B, 1, D)",), '''
        def prepend_cls(patch_embedding, cls_token):
            cls = cls_token.unsqueeze(0)                     # (1, 1, D)
            return torch.cat([cls, patch_embedding], dim=1)
        ''', must_not=_NOT_AN_IMAGE, why="(1, 1, D) token works for a batch of 1 only: not expanded to B"),
    _w("prepend_cls", "cls_repeat_2d", ("(B, 1, D)",), '''
        def prepend_cls(patch_embedding, cls_token):
            B = patch_embedding.shape[0]
            cls = cls_token.repeat(B, 1)                     # one token per image
            return torch.cat([cls, patch_embedding], dim=1)
        ''', must_not=_NOT_AN_IMAGE, why="repeat(B, 1) gives (B, D), still 2-D"),
    _w("prepend_cls", "cls_cat_dim0", ("dim=1|dim 1",), '''
        def prepend_cls(patch_embedding, cls_token):
            B, N, D = patch_embedding.shape
            cls = cls_token.expand(B, 1, D)
            return torch.cat([cls, patch_embedding], dim=0)
        ''', must_not=_NOT_AN_IMAGE, why="concatenates along the batch instead of the tokens"),
    _w("prepend_cls", "cls_appended_loop", ("first",), '''
        def prepend_cls(patch_embedding, cls_token):
            out = []
            for b in range(patch_embedding.shape[0]):
                out.append(torch.cat([patch_embedding[b], cls_token]))   # (N+1, D)
            return torch.stack(out)
        ''', must_not=("reading order",), why="appends the CLS token after the patches"),
    _w("prepend_cls", "cls_data_attribute", ("gradient|autograd",), '''
        def prepend_cls(patch_embedding, cls_token):
            B = patch_embedding.shape[0]
            cls = cls_token.data.unsqueeze(0).repeat(B, 1, 1)
            return torch.cat([cls, patch_embedding], dim=1)
        ''', must_not=("dtype",), why="cls_token.data: the learned token gets no gradient"),
    _w("prepend_cls", "cls_torch_tensor_copy", ("gradient|autograd",), '''
        def prepend_cls(patch_embedding, cls_token):
            B = patch_embedding.shape[0]
            cls = torch.tensor(cls_token).repeat(B, 1, 1)
            return torch.cat([cls, patch_embedding], dim=1)
        ''', must_not=("dtype",), why="torch.tensor(...) copies the token out of the autograd graph"),
    _w("prepend_cls", "cls_zeros_buffer", ("dtype",), '''
        def prepend_cls(patch_embedding, cls_token):
            B, N, D = patch_embedding.shape
            out = torch.zeros(B, N + 1, D)
            out[:, 0] = cls_token
            out[:, 1:] = patch_embedding
            return out
        ''', must_not=("reading order",), why="torch.zeros without dtype: float32 output for float64 inputs"),
    _w("prepend_cls", "cls_overwrites_first_patch", ("cat",), '''
        def prepend_cls(patch_embedding, cls_token):
            x = patch_embedding.clone()
            x[:, 0] = cls_token        # the first token is the CLS token
            return x
        ''', why="overwrites patch 0 instead of adding a new row in front"),
    _w("prepend_cls", "cls_float_token", ("float",), '''
        def prepend_cls(patch_embedding, cls_token):
            B, N, D = patch_embedding.shape
            cls = cls_token.float().expand(B, 1, D)
            return torch.cat([cls, patch_embedding], dim=1)
        ''', must_not=("reading order",), why="rounds the CLS token to float32"),

    # ---- add_position_embedding ------------------------------------------------------------------
    _w("add_position_embedding", "pos_plus_equals", ("place",), '''
        def add_position_embedding(token_embedding, position_table):
            T = token_embedding.shape[1]
            token_embedding += position_table[:T]
            return token_embedding
        ''', must_not=_NOT_AN_IMAGE, why="+= modifies the input in place"),
    _w("add_position_embedding", "pos_whole_table", ("[:",), '''
        def add_position_embedding(token_embedding, position_table):
            return token_embedding + position_table
        ''', must_not=_NOT_AN_IMAGE + ("hard-cod|fixed number",), why="adds all max_len rows instead of the first T"),
    _w("add_position_embedding", "pos_float_cast", ("dtype",), '''
        def add_position_embedding(token_embedding, position_table):
            T = token_embedding.shape[1]
            return (token_embedding + position_table[:T]).float()
        ''', why="casts to float32"),
    _w("add_position_embedding", "pos_table_data", ("gradient|autograd",), '''
        def add_position_embedding(token_embedding, position_table):
            T = token_embedding.shape[1]
            return token_embedding + position_table.data[:T]
        ''', must_not=("dtype",), why="position_table.data: the learned table gets no gradient"),
    _w("add_position_embedding", "pos_loop_in_place", ("place",), '''
        def add_position_embedding(token_embedding, position_table):
            for t in range(token_embedding.shape[1]):
                token_embedding[:, t] += position_table[t]
            return token_embedding
        ''', must_not=_NOT_AN_IMAGE, why="adds into the input tensor in place"),
    _w("add_position_embedding", "pos_unsqueeze_wrong_axis", ("broadcast",), '''
        def add_position_embedding(token_embedding, position_table):
            T = token_embedding.shape[1]
            return token_embedding + position_table[:T].unsqueeze(1)   # add a batch dimension
        ''', must_not=_NOT_AN_IMAGE, why="unsqueeze(1) makes (T, 1, D), which broadcasts against the wrong axes"),
    _w("add_position_embedding", "pos_sliced_by_batch", ("batch",), '''
        def add_position_embedding(token_embedding, position_table):
            n = token_embedding.shape[0]
            return token_embedding + position_table[:n]
        ''', why="slices the table by the batch size instead of the sequence length"),
    _w("add_position_embedding", "pos_numpy", ("gradient|autograd",), '''
        import numpy as np

        def add_position_embedding(token_embedding, position_table):
            x = token_embedding.detach().numpy()
            pos = position_table.detach().numpy()
            return torch.from_numpy(x + pos[: x.shape[1]])
        ''', must_not=("dtype",), why="numpy round trip: no gradient to tokens or table"),
    _w("add_position_embedding", "pos_zeros_buffer", ("dtype",), '''
        def add_position_embedding(token_embedding, position_table):
            B, T, D = token_embedding.shape
            out = torch.zeros(B, T, D)
            for b in range(B):
                out[b] = token_embedding[b] + position_table[:T]
            return out
        ''', why="torch.zeros without dtype"),
    _w("add_position_embedding", "pos_skips_row_zero", ("[:",), '''
        def add_position_embedding(token_embedding, position_table):
            T = token_embedding.shape[1]
            return token_embedding + position_table[1:T + 1]   # position 1 is the first token
        ''', why="counts positions from 1: token t must get row t"),

    # ---- interpolate_position_embedding -----------------------------------------------------------
    _w("interpolate_position_embedding", "interp_bilinear", ("bicubic",), '''
        def interpolate_position_embedding(table, old_grid, new_grid, num_prefix_tokens=1):
            prefix, rows = table[:num_prefix_tokens], table[num_prefix_tokens:]
            D = table.shape[1]
            grid = rows.reshape(old_grid[0], old_grid[1], D).permute(2, 0, 1).unsqueeze(0)
            grid = F.interpolate(grid, size=new_grid, mode="bilinear", align_corners=False)
            rows = grid.squeeze(0).permute(1, 2, 0).reshape(-1, D)
            return torch.cat([prefix, rows])
        ''', must_not=("align_corners", "prefix"), why="bilinear instead of bicubic"),
    _w("interpolate_position_embedding", "interp_align_corners", ("align_corners",), '''
        def interpolate_position_embedding(table, old_grid, new_grid, num_prefix_tokens=1):
            prefix, rows = table[:num_prefix_tokens], table[num_prefix_tokens:]
            D = table.shape[1]
            grid = rows.reshape(*old_grid, D).permute(2, 0, 1)[None]
            grid = F.interpolate(grid, size=tuple(new_grid), mode="bicubic", align_corners=True)
            return torch.cat([prefix, grid[0].permute(1, 2, 0).reshape(-1, D)])
        ''', must_not=("bilinear", "prefix"), why="align_corners=True"),
    _w("interpolate_position_embedding", "interp_reshape_without_permute", ("permute",), '''
        def interpolate_position_embedding(table, old_grid, new_grid, num_prefix_tokens=1):
            prefix, rows = table[:num_prefix_tokens], table[num_prefix_tokens:]
            D = table.shape[1]
            grid = rows.reshape(1, D, old_grid[0], old_grid[1])   # (1, D, h, w) for F.interpolate
            grid = F.interpolate(grid, size=new_grid, mode="bicubic", align_corners=False)
            return torch.cat([prefix, grid.reshape(D, -1).T])
        ''', must_not=("bilinear", "align_corners"), why="reshapes (h*w, D) rows straight into (1, D, h, w)"),
    _w("interpolate_position_embedding", "interp_permute_missing_on_way_back", ("permute",), '''
        def interpolate_position_embedding(table, old_grid, new_grid, num_prefix_tokens=1):
            prefix, rows = table[:num_prefix_tokens], table[num_prefix_tokens:]
            D = table.shape[1]
            grid = rows.reshape(old_grid[0], old_grid[1], D).permute(2, 0, 1)[None]
            grid = F.interpolate(grid, size=new_grid, mode="bicubic", align_corners=False)
            return torch.cat([prefix, grid.reshape(-1, D)])
        ''', must_not=("bilinear", "align_corners"), why="reads (1, D, h, w) back with a plain reshape to (h*w, D)"),
    _w("interpolate_position_embedding", "interp_whole_table", ("prefix",), '''
        def interpolate_position_embedding(table, old_grid, new_grid, num_prefix_tokens=1):
            D = table.shape[1]
            grid = table.reshape(old_grid[0], old_grid[1], D).permute(2, 0, 1)[None]
            grid = F.interpolate(grid, size=new_grid, mode="bicubic", align_corners=False)
            return grid[0].permute(1, 2, 0).reshape(-1, D)
        ''', must_not=_NOT_AN_IMAGE + ("hard-cod|fixed number",), why="interpolates the CLS row with the patch rows"),
    _w("interpolate_position_embedding", "interp_one_cls_row_assumed", ("num_prefix_tokens",), '''
        def interpolate_position_embedding(table, old_grid, new_grid, num_prefix_tokens=1):
            cls_row, rows = table[:1], table[1:]
            D = table.shape[1]
            grid = rows.reshape(old_grid[0], old_grid[1], D).permute(2, 0, 1)[None]
            grid = F.interpolate(grid, size=new_grid, mode="bicubic", align_corners=False)
            return torch.cat([cls_row, grid[0].permute(1, 2, 0).reshape(-1, D)])
        ''', must_not=("image.shape",), why="always splits off one CLS row, ignoring num_prefix_tokens"),
    _w("interpolate_position_embedding", "interp_float32_round_trip", ("float32",), '''
        def interpolate_position_embedding(table, old_grid, new_grid, num_prefix_tokens=1):
            prefix, rows = table[:num_prefix_tokens], table[num_prefix_tokens:]
            D = table.shape[1]
            grid = rows.reshape(old_grid[0], old_grid[1], D).permute(2, 0, 1)[None].float()
            grid = F.interpolate(grid, size=new_grid, mode="bicubic", align_corners=False)
            rows = grid[0].permute(1, 2, 0).reshape(-1, D).to(table.dtype)
            return torch.cat([prefix, rows])
        ''', must_not=("bilinear", "align_corners", "permute"), why="interpolates in float32 and casts back: float64 tables lose precision"),
    _w("interpolate_position_embedding", "interp_no_grad", ("gradient|autograd",), '''
        def interpolate_position_embedding(table, old_grid, new_grid, num_prefix_tokens=1):
            with torch.no_grad():   # like the checkpoint-loading code
                prefix, rows = table[:num_prefix_tokens], table[num_prefix_tokens:]
                D = table.shape[1]
                grid = rows.reshape(old_grid[0], old_grid[1], D).permute(2, 0, 1)[None]
                grid = F.interpolate(grid, size=new_grid, mode="bicubic", align_corners=False)
                return torch.cat([prefix, grid[0].permute(1, 2, 0).reshape(-1, D)])
        ''', must_not=("bilinear", "align_corners"), why="torch.no_grad(): no gradient reaches the learned table"),
    _w("interpolate_position_embedding", "interp_grid_as_width_height", ("height",), '''
        def interpolate_position_embedding(table, old_grid, new_grid, num_prefix_tokens=1):
            prefix, rows = table[:num_prefix_tokens], table[num_prefix_tokens:]
            D = table.shape[1]
            (old_w, old_h), (new_w, new_h) = old_grid, new_grid   # (width, height) like PIL
            grid = rows.reshape(old_h, old_w, D).permute(2, 0, 1)[None]
            grid = F.interpolate(grid, size=(new_h, new_w), mode="bicubic", align_corners=False)
            return torch.cat([prefix, grid[0].permute(1, 2, 0).reshape(-1, D)])
        ''', must_not=("bilinear", "align_corners"), why="reads the grids as (width, height)"),
    _w("interpolate_position_embedding", "interp_antialias", ("antialias",), '''
        def interpolate_position_embedding(table, old_grid, new_grid, num_prefix_tokens=1):
            prefix, rows = table[:num_prefix_tokens], table[num_prefix_tokens:]
            D = table.shape[1]
            grid = rows.reshape(old_grid[0], old_grid[1], D).permute(2, 0, 1)[None]
            grid = F.interpolate(grid, size=new_grid, mode="bicubic", align_corners=False, antialias=True)
            return torch.cat([prefix, grid[0].permute(1, 2, 0).reshape(-1, D)])
        ''', must_not=("bilinear", "align_corners", "permute"), why="antialias=True (timm's choice), not Hugging Face's"),

    # ---- causal_mask ------------------------------------------------------------------------------
    _w("causal_mask", "causal_triu_blocked", ("may attend",), '''
        def causal_mask(T):
            # True where the future is hidden
            return torch.triu(torch.ones(T, T, dtype=torch.bool), diagonal=1)
        ''', must_not=("diagonal=-1",), why="True marks the blocked keys: the opposite convention"),
    _w("causal_mask", "causal_float_ones", ("bool",), '''
        def causal_mask(T):
            return torch.tril(torch.ones(T, T))
        ''', why="float 0/1 matrix instead of a boolean mask"),
    _w("causal_mask", "causal_additive_inf", ("bool",), '''
        def causal_mask(T):
            return torch.triu(torch.full((T, T), float("-inf")), diagonal=1)
        ''', why="an additive float mask (0 / -inf), not a boolean one"),
    _w("causal_mask", "causal_strictly_lower", ("diagonal",), '''
        def causal_mask(T):
            t = torch.arange(T)
            return t[:, None] > t[None, :]   # query t sees keys before it
        ''', why="> instead of >=: a token may not attend to itself"),
    _w("causal_mask", "causal_loop_transposed", ("query",), '''
        def causal_mask(T):
            mask = torch.zeros(T, T, dtype=torch.bool)
            for i in range(T):
                for j in range(T):
                    mask[i, j] = j >= i
            return mask
        ''', why="upper triangle: rows must be queries, True for keys s <= t"),
    _w("causal_mask", "causal_numpy_tril", ("bool",), '''
        import numpy as np

        def causal_mask(T):
            return torch.from_numpy(np.tril(np.ones((T, T))))
        ''', why="float64 0/1 from numpy instead of bool"),
    _w("causal_mask", "causal_nn_transformer_helper", ("bool",), '''
        def causal_mask(T):
            return nn.Transformer.generate_square_subsequent_mask(T)
        ''', why="PyTorch's additive float mask (0 / -inf)"),

    # ---- scaled_dot_product_attention -------------------------------------------------------------
    _w("scaled_dot_product_attention", "sdpa_no_none_check", ("is not None",), '''
        def scaled_dot_product_attention(q, k, v, mask=None):
            scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
            scores = scores.masked_fill(~mask, float("-inf"))
            return scores.softmax(dim=-1) @ v
        ''', must_not=("sqrt", "dim=-1"), why="no `if mask is not None`: ~None raises"),
    _w("scaled_dot_product_attention", "sdpa_mask_inverted", ("may attend",), '''
        def scaled_dot_product_attention(q, k, v, mask=None):
            scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
            if mask is not None:
                scores = scores.masked_fill(mask, float("-inf"))   # hide the masked positions
            return torch.softmax(scores, dim=-1) @ v
        ''', must_not=("sqrt", "is not None"), why="fills where mask is True: True means may attend"),
    _w("scaled_dot_product_attention", "sdpa_fill_zero", ("inf",), '''
        def scaled_dot_product_attention(q, k, v, mask=None):
            scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
            if mask is not None:
                scores = scores.masked_fill(~mask, 0)
            return scores.softmax(dim=-1) @ v
        ''', must_not=("sqrt", "is not None"), why="masked scores set to 0, and exp(0) = 1 still weighs them"),
    _w("scaled_dot_product_attention", "sdpa_multiply_by_mask", ("inf",), '''
        def scaled_dot_product_attention(q, k, v, mask=None):
            scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
            if mask is not None:
                scores = scores * mask
            return scores.softmax(dim=-1) @ v
        ''', must_not=("sqrt", "is not None"), why="multiplies scores by the mask: zeros, not -inf"),
    _w("scaled_dot_product_attention", "sdpa_divide_by_d", ("sqrt",), '''
        def scaled_dot_product_attention(q, k, v, mask=None):
            d = q.shape[-1]
            scores = torch.einsum("bhtd,bhsd->bhts", q, k) / d
            if mask is not None:
                scores = scores.masked_fill(~mask, float("-inf"))
            return torch.einsum("bhts,bhsd->bhtd", scores.softmax(dim=-1), v)
        ''', must_not=("is not None", "dim=-1"), why="divides by d instead of sqrt(d)"),
    _w("scaled_dot_product_attention", "sdpa_scale_by_model_width", ("head",), '''
        def scaled_dot_product_attention(q, k, v, mask=None):
            d_model = q.shape[1] * q.shape[-1]
            scores = q @ k.transpose(-2, -1) / math.sqrt(d_model)
            if mask is not None:
                scores = scores.masked_fill(~mask, float("-inf"))
            return scores.softmax(dim=-1) @ v
        ''', must_not=("is not None", "dim=-1"), why="scales by sqrt(h*d), the model width, not the head width d"),
    _w("scaled_dot_product_attention", "sdpa_hardcoded_scale", ("sqrt",), '''
        def scaled_dot_product_attention(q, k, v, mask=None):
            scores = q @ k.transpose(-2, -1) / 2   # sqrt(4)
            if mask is not None:
                scores = scores.masked_fill(~mask, float("-inf"))
            return scores.softmax(dim=-1) @ v
        ''', must_not=("is not None", "dim=-1"), why="divides by a fixed 2 = sqrt(4) from the example"),
    _w("scaled_dot_product_attention", "sdpa_softmax_dim1", ("dim=-1|dim -1|last dim",), '''
        def scaled_dot_product_attention(q, k, v, mask=None):
            scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
            if mask is not None:
                scores = scores.masked_fill(~mask, float("-inf"))
            weights = F.softmax(scores, dim=1)
            return weights @ v
        ''', must_not=("sqrt", "is not None"), why="softmax over dim 1 (the heads) instead of the keys"),
    _w("scaled_dot_product_attention", "sdpa_k_dot_T", ("transpose",), '''
        def scaled_dot_product_attention(q, k, v, mask=None):
            scores = q @ k.T / math.sqrt(q.shape[-1])
            if mask is not None:
                scores = scores.masked_fill(~mask, float("-inf"))
            return scores.softmax(dim=-1) @ v
        ''', must_not=("sqrt(", "is not None"), why="k.T reverses all four dims; only the last two must swap"),
    _w("scaled_dot_product_attention", "sdpa_softmax_in_float32", ("float32",), '''
        def scaled_dot_product_attention(q, k, v, mask=None):
            scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
            if mask is not None:
                scores = scores.masked_fill(~mask, float("-inf"))
            weights = scores.float().softmax(dim=-1).to(q.dtype)   # softmax in fp32 for stability
            return weights @ v
        ''', must_not=("sqrt", "is not None", "dim=-1"), why="softmax in float32, cast back: float64 inputs lose precision"),
    _w("scaled_dot_product_attention", "sdpa_returns_weights_too", ("tuple",), '''
        def scaled_dot_product_attention(q, k, v, mask=None):
            scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
            if mask is not None:
                scores = scores.masked_fill(~mask, float("-inf"))
            weights = scores.softmax(dim=-1)
            return weights @ v, weights
        ''', must_not=("sqrt", "is not None"), why="returns (output, weights)"),
    _w("scaled_dot_product_attention", "sdpa_numpy", ("gradient|autograd",), '''
        import numpy as np

        def scaled_dot_product_attention(q, k, v, mask=None):
            qn, kn, vn = q.detach().numpy(), k.detach().numpy(), v.detach().numpy()
            scores = qn @ kn.swapaxes(-1, -2) / math.sqrt(qn.shape[-1])
            if mask is not None:
                scores = np.where(mask.numpy(), scores, -np.inf)
            scores = scores - scores.max(axis=-1, keepdims=True)
            w = np.exp(scores)
            w = w / w.sum(axis=-1, keepdims=True)
            return torch.from_numpy(w @ vn)
        ''', must_not=("sqrt", "is not None", "dtype"), why="numpy: no gradient reaches q, k or v"),
    _w("scaled_dot_product_attention", "sdpa_scale_q_in_place", ("place",), '''
        def scaled_dot_product_attention(q, k, v, mask=None):
            q /= math.sqrt(q.shape[-1])
            scores = q @ k.transpose(-2, -1)
            if mask is not None:
                scores = scores.masked_fill(~mask, float("-inf"))
            return scores.softmax(dim=-1) @ v
        ''', must_not=("is not None",) + _NOT_AN_IMAGE, why="q /= ... divides the caller's q in place"),
    _w("scaled_dot_product_attention", "sdpa_mask_after_softmax", ("before",), '''
        def scaled_dot_product_attention(q, k, v, mask=None):
            scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
            weights = scores.softmax(dim=-1)
            if mask is not None:
                weights = weights.masked_fill(~mask, 0.0)   # no attention to masked keys
            return weights @ v
        ''', must_not=("sqrt", "is not None"), why="masks after the softmax: rows no longer sum to 1"),
    _w("scaled_dot_product_attention", "sdpa_zeros_buffer", ("dtype",), '''
        def scaled_dot_product_attention(q, k, v, mask=None):
            scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
            if mask is not None:
                scores = scores.masked_fill(~mask, float("-inf"))
            weights = scores.softmax(dim=-1)
            out = torch.zeros(q.shape[0], q.shape[1], q.shape[2], v.shape[-1])
            for i in range(q.shape[1]):
                out[:, i] = weights[:, i] @ v[:, i]
            return out
        ''', must_not=("sqrt", "is not None") + _NOT_HARD_CODED, why="torch.zeros without dtype: float32 output"),
    _w("scaled_dot_product_attention", "sdpa_mask_squeeze", ("squeeze",), '''
        def scaled_dot_product_attention(q, k, v, mask=None):
            scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
            if mask is not None:
                mask = mask.squeeze()           # (T, S)
                scores = scores.masked_fill(~mask, float("-inf"))
            return scores.softmax(dim=-1) @ v
        ''', must_not=("sqrt", "is not None") + _NOT_HARD_CODED, why="squeezes the (B, 1, 1, S) padding mask into (B, S)"),
    _w("scaled_dot_product_attention", "sdpa_mask_view_TT", ("broadcast",), '''
        def scaled_dot_product_attention(q, k, v, mask=None):
            T, S = q.shape[2], k.shape[2]
            scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
            if mask is not None:
                mask = mask.view(1, 1, T, S)
                scores = scores.masked_fill(~mask, float("-inf"))
            return scores.softmax(dim=-1) @ v
        ''', must_not=("sqrt", "is not None") + _NOT_HARD_CODED, why="assumes a (T, S) mask; a (B, 1, 1, S) mask cannot be viewed so"),
    _w("scaled_dot_product_attention", "sdpa_sqrt_of_int_tensor", ("float32",), '''
        def scaled_dot_product_attention(q, k, v, mask=None):
            d = q.shape[-1]
            scores = torch.matmul(q, k.transpose(-2, -1)) / torch.sqrt(torch.tensor(d))
            if mask is not None:
                scores = scores.masked_fill(~mask, float("-inf"))
            return torch.matmul(torch.softmax(scores, dim=-1), v)
        ''', must_not=("is not None", "dim=-1"), why="torch.sqrt(torch.tensor(d)) is float32: float64 scores lose precision"),
    _w("scaled_dot_product_attention", "sdpa_detached_weights", ("gradient|autograd",), '''
        def scaled_dot_product_attention(q, k, v, mask=None):
            scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
            if mask is not None:
                scores = scores.masked_fill(~mask, float("-inf"))
            weights = scores.softmax(dim=-1).detach()   # keep the map for plotting
            return weights @ v
        ''', must_not=("sqrt", "is not None"), why="detached weights: no gradient reaches q and k"),
    _w("scaled_dot_product_attention", "sdpa_F_inverted_mask", ("may attend",), '''
        def scaled_dot_product_attention(q, k, v, mask=None):
            # nn.MultiheadAttention style: True = masked out
            attn_mask = None if mask is None else ~mask
            return F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask)
        ''', must_not=("sqrt", "is not None"), why="inverts the mask for F.scaled_dot_product_attention, which already uses True = may attend"),

    # ---- split_heads ------------------------------------------------------------------------------
    _w("split_heads", "split_view_no_transpose", ("transpose",), '''
        def split_heads(x, num_heads):
            B, T, D = x.shape
            return x.view(B, num_heads, T, -1)
        ''', must_not=("dtype", "//"), why="views (B, T, D) as (B, h, T, d): mixes tokens and heads"),
    _w("split_heads", "split_float_division", ("//",), '''
        def split_heads(x, num_heads):
            B, T, D = x.shape
            return x.reshape(B, T, num_heads, D / num_heads).transpose(1, 2)
        ''', why="D / num_heads is a float"),
    _w("split_heads", "split_interleaved_reshape", ("feature",), '''
        def split_heads(x, num_heads):
            B, T, D = x.shape
            x = x.reshape(B, T, D // num_heads, num_heads)   # (B, T, d, h)
            return x.permute(0, 3, 1, 2)                     # (B, h, T, d)
        ''', must_not=("dtype", "//"), why="(d, h) order: head i gets every h-th feature"),
    _w("split_heads", "split_stack_dim0", ("dim=1|dim 1",), '''
        def split_heads(x, num_heads):
            return torch.stack(x.chunk(num_heads, dim=-1), dim=0)
        ''', must_not=("dtype", "//"), why="stacks the heads in front of the batch: (h, B, T, d)"),
    _w("split_heads", "split_hardcoded_three_heads", ("num_heads",), '''
        def split_heads(x, num_heads):
            return x.reshape(x.shape[0], x.shape[1], 3, 4).transpose(1, 2)   # 3 heads of 4
        ''', must_not=_NOT_AN_IMAGE, why="3 heads of width 4 hard-coded"),
    _w("split_heads", "split_float_cast", ("dtype",), '''
        def split_heads(x, num_heads):
            B, T, D = x.shape
            return x.float().reshape(B, T, num_heads, D // num_heads).transpose(1, 2)
        ''', must_not=("transpose", "feature"), why="casts to float32"),
    _w("split_heads", "split_strided_slices", ("feature",), '''
        def split_heads(x, num_heads):
            heads = [x[:, :, i::num_heads] for i in range(num_heads)]
            return torch.stack(heads, dim=1)
        ''', must_not=("dtype", "//"), why="x[..., i::h] takes every h-th feature, not a block"),
    _w("split_heads", "split_einops_d_h", ("feature",), '''
        def split_heads(x, num_heads):
            return rearrange(x, "b t (d h) -> b h t d", h=num_heads)
        ''', must_not=("dtype", "//"), why="(d h) instead of (h d)"),
    _w("split_heads", "split_numpy", ("gradient|autograd",), '''
        def split_heads(x, num_heads):
            B, T, D = x.shape
            a = x.detach().numpy().reshape(B, T, num_heads, D // num_heads).transpose(0, 2, 1, 3)
            return torch.from_numpy(a)
        ''', must_not=("dtype", "feature"), why="numpy round trip: no gradient"),
    _w("split_heads", "split_returns_chunks", ("stack",), '''
        def split_heads(x, num_heads):
            return x.chunk(num_heads, dim=-1)   # one (B, T, d) per head
        ''', why="returns chunk's tuple of heads instead of one (B, h, T, d) tensor"),

    # ---- merge_heads ------------------------------------------------------------------------------
    _w("merge_heads", "merge_reshape_no_transpose", ("transpose",), '''
        def merge_heads(x):
            B, h, T, d = x.shape
            return x.reshape(B, T, h * d)
        ''', must_not=("dtype",), why="reshapes without moving the heads next to the width"),
    _w("merge_heads", "merge_view_after_transpose", ("reshape|contiguous",), '''
        def merge_heads(x):
            B, h, T, d = x.shape
            return x.transpose(1, 2).view(B, T, h * d)
        ''', must_not=("dtype",), why=".view after transpose raises: use reshape (or .contiguous())"),
    _w("merge_heads", "merge_wrong_permute", ("feature",), '''
        def merge_heads(x):
            B, h, T, d = x.shape
            return x.permute(0, 2, 3, 1).reshape(B, T, h * d)   # (B, T, d, h)
        ''', must_not=("dtype",), why="(d, h) order interleaves the heads' features"),
    _w("merge_heads", "merge_cat_wrong_dim", ("dim=-1|dim -1|last dim",), '''
        def merge_heads(x):
            heads = x.unbind(dim=1)          # h tensors of (B, T, d)
            return torch.cat(heads, dim=1)
        ''', must_not=("dtype",), why="concatenates the heads along the tokens"),
    _w("merge_heads", "merge_hardcoded", ("hard-cod|fixed number",), '''
        def merge_heads(x):
            return x.transpose(1, 2).reshape(2, 5, 12)
        ''', must_not=("image.shape",), why="output size hard-coded from the first example"),
    _w("merge_heads", "merge_float_cast", ("dtype",), '''
        def merge_heads(x):
            B, h, T, d = x.shape
            return x.transpose(1, 2).reshape(B, T, h * d).float()
        ''', must_not=("transpose", "feature"), why="casts to float32"),
    _w("merge_heads", "merge_einops_d_h", ("feature",), '''
        def merge_heads(x):
            return rearrange(x, "b h t d -> b t (d h)")
        ''', must_not=("dtype",), why="(d h) instead of (h d)"),
    _w("merge_heads", "merge_numpy", ("gradient|autograd",), '''
        def merge_heads(x):
            B, h, T, d = x.shape
            a = x.detach().numpy().transpose(0, 2, 1, 3).reshape(B, T, h * d)
            return torch.from_numpy(a)
        ''', must_not=("dtype", "feature"), why="numpy round trip: no gradient"),
    _w("merge_heads", "merge_squeeze", ("squeeze",), '''
        def merge_heads(x):
            B, h, T, d = x.shape
            return x.transpose(1, 2).reshape(B, T, -1).squeeze()
        ''', must_not=("dtype", "feature"), why="squeeze() drops the batch dimension of a batch of 1"),
    _w("merge_heads", "merge_sum_heads", ("concat",), '''
        def merge_heads(x):
            return x.sum(dim=1)   # combine the heads
        ''', why="sums the heads instead of concatenating them"),

    # ---- cls_token_output -------------------------------------------------------------------------
    _w("cls_token_output", "clsout_first_sequence", ("[:, 0",), '''
        def cls_token_output(encoder_output):
            return encoder_output[0]   # the first token
        ''', why="[0] takes the first sequence of the batch, not the first token of each"),
    _w("cls_token_output", "clsout_keeps_token_dim", ("[:, 0",), '''
        def cls_token_output(encoder_output):
            return encoder_output[:, 0:1, :]
        ''', why="slicing 0:1 keeps a (B, 1, D) token dimension"),
    _w("cls_token_output", "clsout_last_token", ("first|row 0|[:, 0",), '''
        def cls_token_output(encoder_output):
            return encoder_output[:, -1]   # the summary token
        ''', why="takes the last token; the CLS token was prepended"),
    _w("cls_token_output", "clsout_mean_pool", ("mean",), '''
        def cls_token_output(encoder_output):
            return encoder_output.mean(dim=1)
        ''', why="mean pooling, not the CLS row"),
    _w("cls_token_output", "clsout_squeeze", ("squeeze",), '''
        def cls_token_output(encoder_output):
            return encoder_output[:, :1].squeeze()
        ''', why="squeeze() also drops the batch dimension of a batch of 1"),
    _w("cls_token_output", "clsout_detach", ("gradient|autograd",), '''
        def cls_token_output(encoder_output):
            return encoder_output[:, 0].detach().clone()
        ''', why="detach: no gradient flows back into the encoder"),
    _w("cls_token_output", "clsout_float_cast", ("dtype",), '''
        def cls_token_output(encoder_output):
            return encoder_output[:, 0].float()
        ''', must_not=("[:, 0",), why="casts to float32"),
    _w("cls_token_output", "clsout_last_axis", ("[:, 0",), '''
        def cls_token_output(encoder_output):
            return encoder_output[..., 0]
        ''', why="indexes the feature axis, giving (B, T)"),

    # ---- classification_loss ----------------------------------------------------------------------
    _w("classification_loss", "loss_softmax_first", ("softmax",), '''
        def classification_loss(logits, labels):
            probs = F.softmax(logits, dim=1)
            return nn.CrossEntropyLoss()(probs, labels)
        ''', must_not=("mean", "dtype"), why="applies softmax before cross-entropy, which applies log_softmax itself"),
    _w("classification_loss", "loss_one_hot_no_num_classes", ("num_classes",), '''
        def classification_loss(logits, labels):
            targets = F.one_hot(labels)
            log_probs = F.log_softmax(logits, dim=-1)
            return -(targets * log_probs).sum(dim=-1).mean()
        ''', must_not=_NOT_AN_IMAGE, why="F.one_hot(labels) is only max(label)+1 wide"),
    _w("classification_loss", "loss_nll_on_logits", ("log_softmax",), '''
        def classification_loss(logits, labels):
            return F.nll_loss(logits, labels)
        ''', why="nll_loss expects log-probabilities"),
    _w("classification_loss", "loss_sum_not_mean", ("mean",), '''
        def classification_loss(logits, labels):
            B = logits.shape[0]
            probs = F.softmax(logits, dim=1)
            return -torch.log(probs[range(B), labels]).sum()
        ''', must_not=("softmax first",), why="sums over the batch instead of averaging"),
    _w("classification_loss", "loss_log_softmax_dim0", ("dim",), '''
        def classification_loss(logits, labels):
            return F.nll_loss(F.log_softmax(logits, dim=0), labels)
        ''', why="normalises over the batch instead of the classes"),
    _w("classification_loss", "loss_float_cast", ("dtype",), '''
        def classification_loss(logits, labels):
            return F.cross_entropy(logits.float(), labels)
        ''', must_not=("softmax",), why="casts to float32"),
    _w("classification_loss", "loss_mse_on_one_hot", ("cross",), '''
        def classification_loss(logits, labels):
            targets = F.one_hot(labels, num_classes=logits.shape[1]).to(logits.dtype)
            return F.mse_loss(logits.softmax(dim=-1), targets)
        ''', must_not=("scale factor",), why="mean squared error on probabilities, not cross-entropy"),
    _w("classification_loss", "loss_item", ("item",), '''
        def classification_loss(logits, labels):
            return F.cross_entropy(logits, labels).item()
        ''', why=".item() returns a Python float: nothing to call backward on"),
    _w("classification_loss", "loss_per_sample", ("mean",), '''
        def classification_loss(logits, labels):
            return F.cross_entropy(logits, labels, reduction="none")
        ''', why="one loss per sample, not the mean"),
    _w("classification_loss", "loss_torch_tensor_of_item", ("gradient|autograd",), '''
        def classification_loss(logits, labels):
            loss = F.cross_entropy(logits, labels)
            return torch.tensor(loss.item())
        ''', must_not=("softmax",), why="rebuilds the loss from a Python float: no gradient"),
    _w("classification_loss", "loss_numpy", ("gradient|autograd",), '''
        import numpy as np

        def classification_loss(logits, labels):
            z = logits.detach().numpy()
            z = z - z.max(axis=1, keepdims=True)
            log_probs = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
            loss = -log_probs[np.arange(len(z)), labels.numpy()].mean()
            return torch.tensor(loss, dtype=logits.dtype)
        ''', must_not=("softmax",), why="numpy: no gradient reaches the logits"),
    _w("classification_loss", "loss_wrong_gather", ("arange",), '''
        def classification_loss(logits, labels):
            log_probs = logits.log_softmax(dim=-1)
            return -log_probs[:, labels].mean()
        ''', must_not=("scale factor",), why="log_probs[:, labels] takes every label for every row (B x B)"),
    _w("classification_loss", "loss_mean_over_classes_too", ("sum",), '''
        def classification_loss(logits, labels):
            targets = F.one_hot(labels, num_classes=logits.shape[-1])
            return -(targets * logits.log_softmax(dim=-1)).mean()
        ''', why="mean over B*K entries: the loss is K times too small"),
    _w("classification_loss", "loss_returns_accuracy_too", ("tuple",), '''
        def classification_loss(logits, labels):
            loss = F.cross_entropy(logits, labels)
            accuracy = (logits.argmax(dim=1) == labels).float().mean()
            return loss, accuracy
        ''', why="returns (loss, accuracy)"),

    # ---- attention_rollout ------------------------------------------------------------------------
    _w("attention_rollout", "rollout_multiplied_on_the_right", ("order",), '''
        def attention_rollout(attentions, residual=0.5):
            result = None
            for layer in attentions:                       # (B, h, T, T)
                a = layer.mean(dim=1)
                eye = torch.eye(a.shape[-1], dtype=a.dtype)
                a = (1 - residual) * a + residual * eye
                a = a / a.sum(dim=-1, keepdim=True)
                result = a if result is None else result @ a
            return result
        ''', must_not=("dtype", "residual"), why="result @ a: later layers must multiply on the left"),
    _w("attention_rollout", "rollout_max_over_heads", ("mean",), '''
        def attention_rollout(attentions, residual=0.5):
            T = attentions[0].shape[-1]
            eye = torch.eye(T, dtype=attentions[0].dtype)
            rollout = eye
            for layer in attentions:
                a = layer.max(dim=1).values                # strongest head
                a = (1 - residual) * a + residual * eye
                a = a / a.sum(dim=-1, keepdim=True)
                rollout = a @ rollout
            return rollout
        ''', must_not=("dtype", "order"), why="max over the heads instead of their mean"),
    _w("attention_rollout", "rollout_no_residual", ("residual",), '''
        def attention_rollout(attentions, residual=0.5):
            rollout = None
            for layer in attentions:
                a = layer.mean(dim=1)
                a = a / a.sum(dim=-1, keepdim=True)
                rollout = a if rollout is None else a @ rollout
            return rollout
        ''', must_not=("dtype", "order"), why="forgets the residual identity"),
    _w("attention_rollout", "rollout_residual_weights_swapped", ("residual",), '''
        def attention_rollout(attentions, residual=0.5):
            rollout = None
            for layer in attentions:
                a = layer.mean(dim=1)
                eye = torch.eye(a.shape[-1], dtype=a.dtype)
                a = residual * a + (1 - residual) * eye
                a = a / a.sum(dim=-1, keepdim=True)
                rollout = a if rollout is None else a @ rollout
            return rollout
        ''', must_not=("dtype", "order"), why="weights residual * W + (1 - residual) * I, swapped"),
    _w("attention_rollout", "rollout_eye_without_dtype", ("dtype",), '''
        def attention_rollout(attentions, residual=0.5):
            T = attentions[0].shape[-1]
            rollout = torch.eye(T)
            for layer in attentions:
                a = (1 - residual) * layer.mean(dim=1) + residual * torch.eye(T)
                a = a / a.sum(dim=-1, keepdim=True)
                rollout = a @ rollout
            return rollout
        ''', must_not=_NOT_HARD_CODED, why="torch.eye without dtype: float32 identity meets float64 weights"),
    _w("attention_rollout", "rollout_float_cast", ("dtype",), '''
        def attention_rollout(attentions, residual=0.5):
            attentions = [a.float() for a in attentions]
            T = attentions[0].shape[-1]
            eye = torch.eye(T)
            rollout = eye
            for a in attentions:
                a = (1 - residual) * a.mean(dim=1) + residual * eye
                rollout = (a / a.sum(dim=-1, keepdim=True)) @ rollout
            return rollout
        ''', must_not=("order", "residual"), why="casts the weights to float32"),
    _w("attention_rollout", "rollout_mean_over_batch", ("dim=1|dim 1",), '''
        def attention_rollout(attentions, residual=0.5):
            rollout = None
            for layer in attentions:
                a = layer.mean(dim=0)                      # average the heads
                eye = torch.eye(a.shape[-1], dtype=a.dtype)
                a = (1 - residual) * a + residual * eye
                a = a / a.sum(dim=-1, keepdim=True)
                rollout = a if rollout is None else a @ rollout
            return rollout
        ''', must_not=("dtype", "order"), why="mean over dim 0 averages the batch, not the heads"),
    _w("attention_rollout", "rollout_column_normalised", ("row",), '''
        def attention_rollout(attentions, residual=0.5):
            rollout = None
            for layer in attentions:
                a = layer.mean(dim=1)
                eye = torch.eye(a.shape[-1], dtype=a.dtype)
                a = (1 - residual) * a + residual * eye
                a = a / a.sum(dim=-2, keepdim=True)
                rollout = a if rollout is None else a @ rollout
            return rollout
        ''', must_not=("dtype",), why="normalises the columns instead of the rows"),
    _w("attention_rollout", "rollout_residual_in_place", ("place",), '''
        def attention_rollout(attentions, residual=0.5):
            T = attentions[0].shape[-1]
            eye = torch.eye(T, dtype=attentions[0].dtype)
            rollout = eye
            for a in attentions:
                a *= 1 - residual
                a += residual * eye
                a = a.mean(dim=1)
                rollout = (a / a.sum(dim=-1, keepdim=True)) @ rollout
            return rollout
        ''', must_not=("dtype", "order"), why="mixes the residual into the caller's weights in place"),
    _w("attention_rollout", "rollout_sum_over_heads", ("mean",), '''
        def attention_rollout(attentions, residual=0.5):
            rollout = None
            for layer in attentions:
                a = layer.sum(dim=1)                       # add up the heads
                eye = torch.eye(a.shape[-1], dtype=a.dtype)
                a = (1 - residual) * a + residual * eye
                a = a / a.sum(dim=-1, keepdim=True)
                rollout = a if rollout is None else a @ rollout
            return rollout
        ''', must_not=("dtype", "order"), why="sums the heads: the identity's share shrinks by h"),
    # ---- distillation_loss ------------------------------------------------------------------------
    _w("distillation_loss", "distill_soft_targets_when_hard", ("argmax",), '''
        def distillation_loss(cls_logits, distillation_logits, labels, teacher_logits, alpha=0.5, temperature=None):
            loss_cls = F.cross_entropy(cls_logits, labels)
            if temperature is None:
                teacher_probs = F.softmax(teacher_logits.detach(), dim=-1)
                loss_dist = F.cross_entropy(distillation_logits, teacher_probs)
            else:
                T = temperature
                loss_dist = T * T * F.kl_div(F.log_softmax(distillation_logits / T, dim=-1),
                                             F.log_softmax(teacher_logits.detach() / T, dim=-1),
                                             reduction="batchmean", log_target=True)
            return (1 - alpha) * loss_cls + alpha * loss_dist
        ''', must_not=("dtype",), why="hard distillation on the teacher's probabilities instead of its labels"),
    _w("distillation_loss", "distill_terms_added", ("alpha",), '''
        def distillation_loss(cls_logits, distillation_logits, labels, teacher_logits, alpha=0.5, temperature=None):
            teacher_logits = teacher_logits.detach()
            loss = F.cross_entropy(cls_logits, labels)
            if temperature is None:
                loss = loss + F.cross_entropy(distillation_logits, teacher_logits.argmax(dim=1))
            else:
                s = F.log_softmax(distillation_logits / temperature, dim=1)
                t = F.log_softmax(teacher_logits / temperature, dim=1)
                loss = loss + temperature ** 2 * F.kl_div(s, t, reduction="batchmean", log_target=True)
            return loss
        ''', must_not=("dtype", "batchmean"), why="adds the two terms without their weights"),
    _w("distillation_loss", "distill_alpha_on_labels", ("1 - alpha",), '''
        def distillation_loss(cls_logits, distillation_logits, labels, teacher_logits, alpha=0.5, temperature=None):
            teacher_logits = teacher_logits.detach()
            hard = temperature is None
            if hard:
                teacher_loss = F.cross_entropy(distillation_logits, teacher_logits.argmax(-1))
            else:
                teacher_loss = F.kl_div(F.log_softmax(distillation_logits / temperature, -1),
                                        F.softmax(teacher_logits / temperature, -1),
                                        reduction="batchmean") * temperature ** 2
            return alpha * F.cross_entropy(cls_logits, labels) + (1 - alpha) * teacher_loss
        ''', must_not=("dtype",), why="alpha weighs the labels' term instead of the teacher's"),
    _w("distillation_loss", "distill_heads_swapped", ("cls_logits",), '''
        def distillation_loss(cls_logits, distillation_logits, labels, teacher_logits, alpha=0.5, temperature=None):
            with torch.no_grad():
                teacher = teacher_logits.clone()
            loss_true = F.cross_entropy(distillation_logits, labels)
            if temperature is None:
                loss_teacher = F.cross_entropy(cls_logits, teacher.argmax(dim=-1))
            else:
                log_p = F.log_softmax(cls_logits / temperature, dim=-1)
                loss_teacher = F.kl_div(log_p, F.softmax(teacher / temperature, dim=-1), reduction="batchmean")
                loss_teacher = loss_teacher * temperature ** 2
            return (1 - alpha) * loss_true + alpha * loss_teacher
        ''', must_not=("dtype", "batchmean"), why="the CLS head learns the teacher and the distillation head the labels"),
    _w("distillation_loss", "distill_temperature_on_student_only", ("both",), '''
        def distillation_loss(cls_logits, distillation_logits, labels, teacher_logits, alpha=0.5, temperature=None):
            ce = F.cross_entropy(cls_logits, labels)
            teacher_logits = teacher_logits.detach()
            if temperature is None:
                return (1 - alpha) * ce + alpha * F.cross_entropy(distillation_logits, teacher_logits.argmax(1))
            student = F.log_softmax(distillation_logits / temperature, dim=1)
            teacher = F.softmax(teacher_logits, dim=1)            # the teacher is already calibrated
            kl = F.kl_div(student, teacher, reduction="batchmean")
            return (1 - alpha) * ce + alpha * temperature ** 2 * kl
        ''', must_not=("dtype", "batchmean"), why="softens the student's logits but not the teacher's"),
    _w("distillation_loss", "distill_temperature_not_squared", ("temperature**2",), '''
        def distillation_loss(cls_logits, distillation_logits, labels, teacher_logits, alpha=0.5, temperature=None):
            ce = F.cross_entropy(cls_logits, labels)
            if temperature is None:
                dist = F.cross_entropy(distillation_logits, teacher_logits.detach().argmax(-1))
            else:
                dist = F.kl_div(F.log_softmax(distillation_logits / temperature, -1),
                                F.log_softmax(teacher_logits.detach() / temperature, -1),
                                reduction="batchmean", log_target=True)
            return (1 - alpha) * ce + alpha * dist
        ''', must_not=("dtype", "batchmean"), why="forgets the T^2 factor of the soft term"),
    _w("distillation_loss", "distill_kl_arguments_swapped", ("student",), '''
        def distillation_loss(cls_logits, distillation_logits, labels, teacher_logits, alpha=0.5, temperature=None):
            ce = F.cross_entropy(cls_logits, labels)
            t = teacher_logits.detach()
            if temperature is None:
                return (1 - alpha) * ce + alpha * F.cross_entropy(distillation_logits, t.argmax(-1))
            T = temperature
            kl = F.kl_div(F.log_softmax(t / T, -1), F.log_softmax(distillation_logits / T, -1),
                          reduction="batchmean", log_target=True)   # KL(teacher, student)
            return (1 - alpha) * ce + alpha * T ** 2 * kl
        ''', must_not=("dtype", "batchmean"), why="passes the teacher as kl_div's input: KL(student || teacher)"),
    _w("distillation_loss", "distill_kl_div_on_probabilities", ("log_softmax",), '''
        def distillation_loss(cls_logits, distillation_logits, labels, teacher_logits, alpha=0.5, temperature=None):
            ce = F.cross_entropy(cls_logits, labels)
            if temperature is None:
                return (1 - alpha) * ce + alpha * F.cross_entropy(distillation_logits, teacher_logits.argmax(-1))
            p_student = F.softmax(distillation_logits / temperature, dim=-1)
            p_teacher = F.softmax(teacher_logits.detach() / temperature, dim=-1)
            return (1 - alpha) * ce + alpha * temperature ** 2 * F.kl_div(p_student, p_teacher, reduction="batchmean")
        ''', must_not=("dtype",), why="gives kl_div probabilities where it expects log-probabilities"),
    _w("distillation_loss", "distill_kl_reduction_mean", ("batchmean",), '''
        def distillation_loss(cls_logits, distillation_logits, labels, teacher_logits, alpha=0.5, temperature=None):
            ce = F.cross_entropy(cls_logits, labels)
            if temperature is None:
                return (1 - alpha) * ce + alpha * F.cross_entropy(distillation_logits, teacher_logits.argmax(-1))
            s = F.log_softmax(distillation_logits / temperature, dim=-1)
            t = F.log_softmax(teacher_logits.detach() / temperature, dim=-1)
            kl = F.kl_div(s, t, reduction="mean", log_target=True)
            return (1 - alpha) * ce + alpha * kl * temperature ** 2
        ''', must_not=("dtype",), why="reduction='mean' divides the KL by the classes as well"),
    _w("distillation_loss", "distill_teacher_in_graph", ("detach",), '''
        def distillation_loss(cls_logits, distillation_logits, labels, teacher_logits, alpha=0.5, temperature=None):
            ce = F.cross_entropy(cls_logits, labels)
            if temperature is None:
                hard = F.cross_entropy(distillation_logits, teacher_logits.argmax(dim=-1))
                return (1 - alpha) * ce + alpha * hard
            log_student = F.log_softmax(distillation_logits / temperature, dim=-1)
            log_teacher = F.log_softmax(teacher_logits / temperature, dim=-1)
            kl = (log_teacher.exp() * (log_teacher - log_student)).sum(dim=-1).mean()
            return (1 - alpha) * ce + alpha * temperature ** 2 * kl
        ''', must_not=("dtype", "batchmean"), why="leaves the teacher's logits in the autograd graph"),
    _w("distillation_loss", "distill_soft_cross_entropy", ("kl",), '''
        def distillation_loss(cls_logits, distillation_logits, labels, teacher_logits, alpha=0.5, temperature=None):
            ce = F.cross_entropy(cls_logits, labels)
            teacher_logits = teacher_logits.detach()
            if temperature is None:
                target = teacher_logits.argmax(-1)
                return (1 - alpha) * ce + alpha * F.cross_entropy(distillation_logits, target)
            soft_target = F.softmax(teacher_logits / temperature, dim=-1)
            soft = F.cross_entropy(distillation_logits / temperature, soft_target)
            return (1 - alpha) * ce + alpha * temperature ** 2 * soft
        ''', must_not=("dtype",), why="cross-entropy with soft targets: the KL plus the teacher's entropy"),
    _w("distillation_loss", "distill_always_hard", ("kl",), '''
        def distillation_loss(cls_logits, distillation_logits, labels, teacher_logits, alpha=0.5, temperature=None):
            teacher_labels = teacher_logits.argmax(dim=-1)
            return ((1 - alpha) * F.cross_entropy(cls_logits, labels)
                    + alpha * F.cross_entropy(distillation_logits, teacher_labels))
        ''', must_not=("dtype",), why="ignores the temperature: hard distillation in every case"),
    _w("distillation_loss", "distill_fixed_half", ("alpha",), '''
        def distillation_loss(cls_logits, distillation_logits, labels, teacher_logits, alpha=0.5, temperature=None):
            teacher_logits = teacher_logits.detach()
            if temperature is None:
                teacher_term = F.cross_entropy(distillation_logits, teacher_logits.argmax(-1))
            else:
                teacher_term = temperature ** 2 * F.kl_div(F.log_softmax(distillation_logits / temperature, -1),
                                                           F.log_softmax(teacher_logits / temperature, -1),
                                                           reduction="batchmean", log_target=True)
            return (F.cross_entropy(cls_logits, labels) + teacher_term) / 2   # DeiT: 1/2 and 1/2
        ''', must_not=("dtype", "batchmean"), why="always weighs the terms 1/2 and 1/2, whatever alpha is"),
]


RIGHT: list[Right] = [
    # ---- image2emb_naive ------------------------------------------------------------------------
    _r("image2emb_naive", "naive_einops", '''
        def image2emb_naive(image, patch_size, weight):
            patches = rearrange(image, "b c (h p1) (w p2) -> b (h w) (c p1 p2)", p1=patch_size, p2=patch_size)
            return patches @ weight
        '''),
    _r("image2emb_naive", "naive_nn_unfold", '''
        def image2emb_naive(image, patch_size, weight):
            unfold = nn.Unfold(kernel_size=patch_size, stride=patch_size)
            return unfold(image).transpose(1, 2) @ weight
        '''),
    _r("image2emb_naive", "naive_unfold_permute_matmul", '''
        def image2emb_naive(image, patch_size, weight):
            cols = F.unfold(image, kernel_size=(patch_size, patch_size), stride=(patch_size, patch_size))
            return torch.matmul(cols.permute(0, 2, 1), weight)
        '''),
    _r("image2emb_naive", "naive_loops", '''
        def image2emb_naive(image, patch_size, weight):
            B, C, H, W = image.shape
            P = patch_size
            rows = []
            for i in range(0, H, P):
                for j in range(0, W, P):
                    rows.append(image[:, :, i:i + P, j:j + P].reshape(B, C * P * P))
            patches = torch.stack(rows, dim=1)   # (B, N, C*P*P)
            return patches @ weight
        '''),
    _r("image2emb_naive", "naive_tensor_unfold", '''
        def image2emb_naive(image, patch_size, weight):
            B, C = image.shape[:2]
            p = patch_size
            tiles = image.unfold(2, p, p).unfold(3, p, p)      # (B, C, h, w, p, p)
            tiles = tiles.permute(0, 2, 3, 1, 4, 5).contiguous()
            return tiles.view(B, -1, C * p * p) @ weight
        '''),
    _r("image2emb_naive", "naive_einsum", '''
        def image2emb_naive(image, patch_size, weight):
            cols = F.unfold(image, patch_size, stride=patch_size)   # (B, C*P*P, N)
            return torch.einsum("bkn,kd->bnd", cols, weight)
        '''),
    _r("image2emb_naive", "naive_via_conv2d", '''
        def image2emb_naive(image, patch_size, weight):
            C = image.shape[1]
            kernel = weight.t().reshape(-1, C, patch_size, patch_size)
            return F.conv2d(image, kernel, stride=patch_size).flatten(2).transpose(1, 2)
        '''),
    _r("image2emb_naive", "naive_f_linear_transposed", '''
        def image2emb_naive(image, patch_size, weight):
            patches = F.unfold(image, patch_size, stride=patch_size).transpose(1, 2)
            return F.linear(patches, weight.T)
        '''),
    _r("image2emb_naive", "naive_reshape_permute", '''
        def image2emb_naive(image, patch_size, weight):
            B, C, H, W = image.shape
            P = patch_size
            x = image.reshape(B, C, H // P, P, W // P, P).permute(0, 2, 4, 1, 3, 5)
            return x.reshape(B, (H // P) * (W // P), C * P * P) @ weight
        '''),

    # ---- weight_to_kernel -----------------------------------------------------------------------
    _r("weight_to_kernel", "w2k_t_reshape", '''
        def weight_to_kernel(weight, in_channels, patch_size):
            return weight.t().reshape(weight.shape[1], in_channels, patch_size, patch_size)
        '''),
    _r("weight_to_kernel", "w2k_einops", '''
        def weight_to_kernel(weight, in_channels, patch_size):
            return rearrange(weight, "(c p1 p2) d -> d c p1 p2", c=in_channels, p1=patch_size, p2=patch_size)
        '''),
    _r("weight_to_kernel", "w2k_reshape_then_permute", '''
        def weight_to_kernel(weight, in_channels, patch_size):
            k = weight.reshape(in_channels, patch_size, patch_size, -1)   # (C, P, P, D)
            return k.permute(3, 0, 1, 2)
        '''),
    _r("weight_to_kernel", "w2k_T_view", '''
        def weight_to_kernel(weight, in_channels, patch_size):
            return weight.T.view(-1, in_channels, patch_size, patch_size)
        '''),
    _r("weight_to_kernel", "w2k_contiguous_view", '''
        def weight_to_kernel(weight, in_channels, patch_size):
            D = weight.shape[1]
            return weight.transpose(0, 1).contiguous().view(D, in_channels, patch_size, patch_size)
        '''),
    _r("weight_to_kernel", "w2k_loop_stack", '''
        def weight_to_kernel(weight, in_channels, patch_size):
            filters = [weight[:, d].reshape(in_channels, patch_size, patch_size) for d in range(weight.shape[1])]
            return torch.stack(filters)
        '''),
    _r("weight_to_kernel", "w2k_unflatten", '''
        def weight_to_kernel(weight, in_channels, patch_size):
            return weight.mT.unflatten(1, (in_channels, patch_size, patch_size))
        '''),

    # ---- image2emb_conv -------------------------------------------------------------------------
    _r("image2emb_conv", "conv_flatten_transpose", '''
        def image2emb_conv(image, kernel, stride):
            return F.conv2d(image, kernel, stride=stride).flatten(2).transpose(1, 2)
        '''),
    _r("image2emb_conv", "conv_einops", '''
        def image2emb_conv(image, kernel, stride):
            return rearrange(F.conv2d(image, kernel, stride=stride), "b d h w -> b (h w) d")
        '''),
    _r("image2emb_conv", "conv_permute_reshape", '''
        def image2emb_conv(image, kernel, stride):
            out = F.conv2d(image, kernel, stride=stride)   # (B, D, h, w)
            B, D = out.shape[:2]
            return out.permute(0, 2, 3, 1).reshape(B, -1, D)
        '''),
    _r("image2emb_conv", "conv_flatten_mT", '''
        def image2emb_conv(image, kernel, stride):
            return F.conv2d(image, kernel, bias=None, stride=stride, padding=0).flatten(start_dim=2).mT
        '''),
    _r("image2emb_conv", "conv_as_unfold_matmul", '''
        def image2emb_conv(image, kernel, stride):
            P = kernel.shape[-1]
            cols = nn.Unfold(kernel_size=P, stride=stride)(image)   # (B, C*P*P, N)
            return cols.transpose(1, 2) @ kernel.flatten(1).T        # (B, N, D)
        '''),
    _r("image2emb_conv", "conv_einsum_tiles", '''
        def image2emb_conv(image, kernel, stride):
            B, C, H, W = image.shape
            P = stride
            tiles = image.reshape(B, C, H // P, P, W // P, P)
            out = torch.einsum("bchpwq,dcpq->bhwd", tiles, kernel)
            return out.reshape(B, (H // P) * (W // P), -1)
        '''),
    _r("image2emb_conv", "conv_loops", '''
        def image2emb_conv(image, kernel, stride):
            B, C, H, W = image.shape
            P = kernel.shape[-1]
            tokens = []
            for i in range(0, H, stride):
                for j in range(0, W, stride):
                    patch = image[:, None, :, i:i + P, j:j + P]           # (B, 1, C, P, P)
                    tokens.append((patch * kernel).sum(dim=(2, 3, 4)))  # (B, D)
            return torch.stack(tokens, dim=1)
        '''),

    # ---- prepend_cls ------------------------------------------------------------------------------
    _r("prepend_cls", "cls_expand_cat", '''
        def prepend_cls(patch_embedding, cls_token):
            B, N, D = patch_embedding.shape
            return torch.cat([cls_token.expand(B, 1, D), patch_embedding], dim=1)
        '''),
    _r("prepend_cls", "cls_repeat", '''
        def prepend_cls(patch_embedding, cls_token):
            B = patch_embedding.shape[0]
            return torch.cat((cls_token.repeat(B, 1, 1), patch_embedding), 1)
        '''),
    _r("prepend_cls", "cls_unsqueeze_expand", '''
        def prepend_cls(patch_embedding, cls_token):
            cls = cls_token.unsqueeze(0).expand(patch_embedding.size(0), -1, -1)
            return torch.cat([cls, patch_embedding], dim=1)
        '''),
    _r("prepend_cls", "cls_einops_repeat", '''
        from einops import repeat

        def prepend_cls(patch_embedding, cls_token):
            cls = repeat(cls_token, "1 d -> b 1 d", b=patch_embedding.shape[0])
            return torch.cat([cls, patch_embedding], dim=1)
        '''),
    _r("prepend_cls", "cls_loop", '''
        def prepend_cls(patch_embedding, cls_token):
            rows = [torch.cat([cls_token, seq], dim=0) for seq in patch_embedding]
            return torch.stack(rows)
        '''),
    _r("prepend_cls", "cls_expand_2d_then_index", '''
        def prepend_cls(patch_embedding, cls_token):
            B = patch_embedding.shape[0]
            return torch.cat([cls_token.expand(B, -1)[:, None, :], patch_embedding], dim=1)
        '''),
    _r("prepend_cls", "cls_broadcast_with_zeros", '''
        def prepend_cls(patch_embedding, cls_token):
            zeros = torch.zeros_like(patch_embedding[:, :1])   # (B, 1, D)
            return torch.cat([zeros + cls_token, patch_embedding], dim=1)
        '''),

    # ---- add_position_embedding ------------------------------------------------------------------
    _r("add_position_embedding", "pos_slice_add", '''
        def add_position_embedding(token_embedding, position_table):
            return token_embedding + position_table[: token_embedding.shape[1]]
        '''),
    _r("add_position_embedding", "pos_unsqueeze0", '''
        def add_position_embedding(token_embedding, position_table):
            T = token_embedding.size(1)
            return token_embedding + position_table[:T].unsqueeze(0)
        '''),
    _r("add_position_embedding", "pos_none_index", '''
        def add_position_embedding(token_embedding, position_table):
            T = token_embedding.shape[1]
            return torch.add(token_embedding, position_table[None, :T, :])
        '''),
    _r("add_position_embedding", "pos_clone_loop", '''
        def add_position_embedding(token_embedding, position_table):
            out = token_embedding.clone()
            for t in range(out.shape[1]):
                out[:, t] += position_table[t]
            return out
        '''),
    _r("add_position_embedding", "pos_embedding_lookup", '''
        def add_position_embedding(token_embedding, position_table):
            positions = torch.arange(token_embedding.shape[1])
            return token_embedding + F.embedding(positions, position_table)
        '''),
    _r("add_position_embedding", "pos_narrow_expand", '''
        def add_position_embedding(token_embedding, position_table):
            rows = position_table.narrow(0, 0, token_embedding.shape[1])
            return token_embedding + rows.expand_as(token_embedding)
        '''),
    _r("add_position_embedding", "pos_arange_index", '''
        def add_position_embedding(token_embedding, position_table):
            B, T, D = token_embedding.shape
            return token_embedding + position_table[torch.arange(T)]
        '''),

    # ---- interpolate_position_embedding -----------------------------------------------------------
    _r("interpolate_position_embedding", "interp_reshape_permute", '''
        def interpolate_position_embedding(table, old_grid, new_grid, num_prefix_tokens=1):
            prefix, rows = table[:num_prefix_tokens], table[num_prefix_tokens:]
            D = table.shape[1]
            grid = rows.reshape(old_grid[0], old_grid[1], D).permute(2, 0, 1).unsqueeze(0)
            grid = F.interpolate(grid, size=tuple(new_grid), mode="bicubic", align_corners=False)
            rows = grid.squeeze(0).permute(1, 2, 0).reshape(-1, D)
            return torch.cat([prefix, rows], dim=0)
        '''),
    _r("interpolate_position_embedding", "interp_transpose_first", '''
        def interpolate_position_embedding(table, old_grid, new_grid, num_prefix_tokens=1):
            D = table.shape[1]
            rows = table[num_prefix_tokens:]
            grid = rows.T.reshape(1, D, *old_grid)
            grid = F.interpolate(grid, size=new_grid, mode="bicubic", align_corners=False)
            return torch.cat([table[:num_prefix_tokens], grid.reshape(D, -1).T])
        '''),
    _r("interpolate_position_embedding", "interp_einops", '''
        def interpolate_position_embedding(table, old_grid, new_grid, num_prefix_tokens=1):
            prefix, rows = table[:num_prefix_tokens], table[num_prefix_tokens:]
            grid = rearrange(rows, "(h w) d -> 1 d h w", h=old_grid[0], w=old_grid[1])
            grid = F.interpolate(grid, size=new_grid, mode="bicubic", align_corners=False)
            return torch.cat([prefix, rearrange(grid, "1 d h w -> (h w) d")])
        '''),
    _r("interpolate_position_embedding", "interp_nn_upsample", '''
        def interpolate_position_embedding(table, old_grid, new_grid, num_prefix_tokens=1):
            prefix, rows = torch.split(table, [num_prefix_tokens, table.shape[0] - num_prefix_tokens])
            up = nn.Upsample(size=tuple(new_grid), mode="bicubic", align_corners=False)
            old_h, old_w = old_grid
            grid = up(rows.reshape(1, old_h, old_w, -1).permute(0, 3, 1, 2))
            return torch.cat([prefix, grid.flatten(2)[0].T])
        '''),
    _r("interpolate_position_embedding", "interp_narrow_unflatten", '''
        def interpolate_position_embedding(table, old_grid, new_grid, num_prefix_tokens=1):
            n = table.shape[0] - num_prefix_tokens
            rows = table.narrow(0, num_prefix_tokens, n)
            grid = rows.unflatten(0, old_grid).movedim(-1, 0)[None]   # (1, D, old_h, old_w)
            grid = F.interpolate(grid, size=new_grid, mode="bicubic", align_corners=False)
            new_rows = grid[0].movedim(0, -1).flatten(0, 1)
            return torch.cat([table.narrow(0, 0, num_prefix_tokens), new_rows])
        '''),

    # ---- causal_mask ------------------------------------------------------------------------------
    _r("causal_mask", "causal_tril_bool", '''
        def causal_mask(T):
            return torch.tril(torch.ones(T, T, dtype=torch.bool))
        '''),
    _r("causal_mask", "causal_arange_compare", '''
        def causal_mask(T):
            t = torch.arange(T)
            return t[:, None] >= t[None, :]   # key s <= query t
        '''),
    _r("causal_mask", "causal_loops", '''
        def causal_mask(T):
            mask = torch.zeros(T, T, dtype=torch.bool)
            for t in range(T):
                for s in range(t + 1):
                    mask[t, s] = True
            return mask
        '''),
    _r("causal_mask", "causal_not_triu", '''
        def causal_mask(T):
            return ~torch.ones(T, T, dtype=torch.bool).triu(diagonal=1)
        '''),
    _r("causal_mask", "causal_float_then_bool", '''
        def causal_mask(T):
            return torch.tril(torch.ones(T, T)).bool()
        '''),
    _r("causal_mask", "causal_numpy_tri", '''
        import numpy as np

        def causal_mask(T):
            return torch.from_numpy(np.tri(T, dtype=bool))
        '''),
    _r("causal_mask", "causal_from_nn_transformer", '''
        def causal_mask(T):
            return nn.Transformer.generate_square_subsequent_mask(T) == 0
        '''),

    # ---- scaled_dot_product_attention -------------------------------------------------------------
    _r("scaled_dot_product_attention", "sdpa_masked_fill", '''
        def scaled_dot_product_attention(q, k, v, mask=None):
            scores = q @ k.transpose(-2, -1) / math.sqrt(q.size(-1))
            if mask is not None:
                scores = scores.masked_fill(~mask, float("-inf"))
            return F.softmax(scores, dim=-1) @ v
        '''),
    _r("scaled_dot_product_attention", "sdpa_torch_functional", '''
        def scaled_dot_product_attention(q, k, v, mask=None):
            return F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        '''),
    _r("scaled_dot_product_attention", "sdpa_einsum_where", '''
        def scaled_dot_product_attention(q, k, v, mask=None):
            scores = torch.einsum("bhtd,bhsd->bhts", q, k) * q.shape[-1] ** -0.5
            if mask is not None:
                scores = torch.where(mask, scores, float("-inf"))
            return torch.einsum("bhts,bhsd->bhtd", scores.softmax(-1), v)
        '''),
    _r("scaled_dot_product_attention", "sdpa_masked_fill_in_place_on_scores", '''
        def scaled_dot_product_attention(q, k, v, mask=None):
            scores = torch.matmul(q, k.transpose(2, 3))
            scores /= math.sqrt(q.shape[-1])            # scores is my own tensor
            if mask is not None:
                scores.masked_fill_(mask == 0, -1e9)
            return torch.matmul(torch.softmax(scores, dim=-1), v)
        '''),
    _r("scaled_dot_product_attention", "sdpa_scale_q_first", '''
        def scaled_dot_product_attention(q, k, v, mask=None):
            q = q / math.sqrt(q.shape[-1])
            scores = q @ k.mT
            if mask is not None:
                scores = scores.masked_fill(mask.logical_not(), -math.inf)
            return nn.Softmax(dim=-1)(scores) @ v
        '''),
    _r("scaled_dot_product_attention", "sdpa_manual_stable_softmax", '''
        def scaled_dot_product_attention(q, k, v, mask=None):
            scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
            if mask is not None:
                scores = scores.masked_fill(~mask, float("-inf"))
            scores = scores - scores.amax(dim=-1, keepdim=True)
            e = scores.exp()
            return (e / e.sum(dim=-1, keepdim=True)) @ v
        '''),
    _r("scaled_dot_product_attention", "sdpa_additive_bias", '''
        def scaled_dot_product_attention(q, k, v, mask=None):
            scores = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
            if mask is not None:
                bias = torch.zeros_like(scores).masked_fill(~mask, float("-inf"))
                scores = scores + bias
            return scores.softmax(dim=-1) @ v
        '''),
    _r("scaled_dot_product_attention", "sdpa_loops_over_batch_and_heads", '''
        def scaled_dot_product_attention(q, k, v, mask=None):
            B, h, T, d = q.shape
            S = k.shape[2]
            if mask is not None:
                mask = torch.broadcast_to(mask, (B, h, T, S))
            outs = []
            for b in range(B):
                heads = []
                for i in range(h):
                    s = q[b, i] @ k[b, i].T / math.sqrt(d)
                    if mask is not None:
                        s = s.masked_fill(~mask[b, i], float("-inf"))
                    heads.append(torch.softmax(s, dim=-1) @ v[b, i])
                outs.append(torch.stack(heads))
            return torch.stack(outs)
        '''),
    _r("scaled_dot_product_attention", "sdpa_baddbmm_style_flatten", '''
        def scaled_dot_product_attention(q, k, v, mask=None):
            B, h, T, d = q.shape
            S = k.shape[2]
            qf, kf, vf = q.reshape(B * h, T, d), k.reshape(B * h, S, d), v.reshape(B * h, S, -1)
            scores = torch.bmm(qf, kf.transpose(1, 2)).view(B, h, T, S) / math.sqrt(d)
            if mask is not None:
                scores = scores.masked_fill(~mask, float("-inf"))
            weights = scores.softmax(dim=-1).reshape(B * h, T, S)
            return torch.bmm(weights, vf).view(B, h, T, -1)
        '''),

    # ---- split_heads ------------------------------------------------------------------------------
    _r("split_heads", "split_view_transpose", '''
        def split_heads(x, num_heads):
            B, T, D = x.shape
            return x.view(B, T, num_heads, D // num_heads).transpose(1, 2)
        '''),
    _r("split_heads", "split_reshape_permute", '''
        def split_heads(x, num_heads):
            B, T, D = x.shape
            return x.reshape(B, T, num_heads, -1).permute(0, 2, 1, 3)
        '''),
    _r("split_heads", "split_einops", '''
        def split_heads(x, num_heads):
            return rearrange(x, "b t (h d) -> b h t d", h=num_heads)
        '''),
    _r("split_heads", "split_chunk_stack", '''
        def split_heads(x, num_heads):
            return torch.stack(x.chunk(num_heads, dim=-1), dim=1)
        '''),
    _r("split_heads", "split_loop_slices", '''
        def split_heads(x, num_heads):
            d = x.shape[-1] // num_heads
            return torch.stack([x[:, :, i * d:(i + 1) * d] for i in range(num_heads)], dim=1)
        '''),
    _r("split_heads", "split_unflatten", '''
        def split_heads(x, num_heads):
            return x.unflatten(-1, (num_heads, -1)).transpose(1, 2)
        '''),
    _r("split_heads", "split_transpose_first", '''
        def split_heads(x, num_heads):
            B, T, D = x.shape
            return x.transpose(1, 2).reshape(B, num_heads, D // num_heads, T).transpose(2, 3)
        '''),
    _r("split_heads", "split_torch_split", '''
        def split_heads(x, num_heads):
            width = x.size(-1) // num_heads
            return torch.stack(torch.split(x, width, dim=2), dim=1)
        '''),

    # ---- merge_heads ------------------------------------------------------------------------------
    _r("merge_heads", "merge_transpose_reshape", '''
        def merge_heads(x):
            B, h, T, d = x.shape
            return x.transpose(1, 2).reshape(B, T, h * d)
        '''),
    _r("merge_heads", "merge_permute_contiguous_view", '''
        def merge_heads(x):
            B, h, T, d = x.shape
            return x.permute(0, 2, 1, 3).contiguous().view(B, T, -1)
        '''),
    _r("merge_heads", "merge_einops", '''
        def merge_heads(x):
            return rearrange(x, "b h t d -> b t (h d)")
        '''),
    _r("merge_heads", "merge_cat_unbind", '''
        def merge_heads(x):
            return torch.cat(x.unbind(dim=1), dim=-1)
        '''),
    _r("merge_heads", "merge_loop_cat", '''
        def merge_heads(x):
            return torch.cat([x[:, i] for i in range(x.shape[1])], dim=2)
        '''),
    _r("merge_heads", "merge_transpose_flatten", '''
        def merge_heads(x):
            return x.transpose(1, 2).flatten(2)
        '''),
    _r("merge_heads", "merge_movedim_flatten", '''
        def merge_heads(x):
            return x.movedim(1, 2).flatten(start_dim=-2)
        '''),

    # ---- cls_token_output -------------------------------------------------------------------------
    _r("cls_token_output", "clsout_index", '''
        def cls_token_output(encoder_output):
            return encoder_output[:, 0]
        '''),
    _r("cls_token_output", "clsout_index_full", '''
        def cls_token_output(encoder_output):
            return encoder_output[:, 0, :]
        '''),
    _r("cls_token_output", "clsout_select", '''
        def cls_token_output(encoder_output):
            return encoder_output.select(1, 0)
        '''),
    _r("cls_token_output", "clsout_slice_squeeze1", '''
        def cls_token_output(encoder_output):
            return encoder_output[:, :1].squeeze(1)
        '''),
    _r("cls_token_output", "clsout_loop_stack", '''
        def cls_token_output(encoder_output):
            return torch.stack([sequence[0] for sequence in encoder_output])
        '''),
    _r("cls_token_output", "clsout_unbind", '''
        def cls_token_output(encoder_output):
            cls, *patches = encoder_output.unbind(dim=1)
            return cls
        '''),
    _r("cls_token_output", "clsout_index_select", '''
        def cls_token_output(encoder_output):
            return torch.index_select(encoder_output, 1, torch.tensor([0])).squeeze(1)
        '''),

    # ---- classification_loss ----------------------------------------------------------------------
    _r("classification_loss", "loss_cross_entropy", '''
        def classification_loss(logits, labels):
            return F.cross_entropy(logits, labels)
        '''),
    _r("classification_loss", "loss_module", '''
        def classification_loss(logits, labels):
            criterion = nn.CrossEntropyLoss()
            return criterion(logits, labels)
        '''),
    _r("classification_loss", "loss_nll_log_softmax", '''
        def classification_loss(logits, labels):
            return F.nll_loss(F.log_softmax(logits, dim=-1), labels)
        '''),
    _r("classification_loss", "loss_logsumexp_gather", '''
        def classification_loss(logits, labels):
            picked = logits.gather(1, labels.unsqueeze(1)).squeeze(1)       # (B,)
            return (torch.logsumexp(logits, dim=1) - picked).mean()
        '''),
    _r("classification_loss", "loss_one_hot", '''
        def classification_loss(logits, labels):
            targets = F.one_hot(labels, num_classes=logits.shape[-1]).to(logits.dtype)
            return -(targets * logits.log_softmax(dim=-1)).sum(dim=-1).mean()
        '''),
    _r("classification_loss", "loss_arange_index", '''
        def classification_loss(logits, labels):
            log_probs = torch.log_softmax(logits, dim=1)
            return -log_probs[torch.arange(len(labels)), labels].mean()
        '''),
    _r("classification_loss", "loss_loop", '''
        def classification_loss(logits, labels):
            total = 0
            for row, label in zip(logits, labels):
                total = total - row.log_softmax(dim=0)[label]
            return total / len(labels)
        '''),
    _r("classification_loss", "loss_sum_divided", '''
        def classification_loss(logits, labels):
            return F.cross_entropy(logits, labels, reduction="sum") / logits.shape[0]
        '''),

    # ---- attention_rollout ------------------------------------------------------------------------
    _r("attention_rollout", "rollout_loop", '''
        def attention_rollout(attentions, residual=0.5):
            T = attentions[0].shape[-1]
            eye = torch.eye(T, dtype=attentions[0].dtype)
            rollout = None
            for layer in attentions:
                a = (1 - residual) * layer.mean(dim=1) + residual * eye
                a = a / a.sum(dim=-1, keepdim=True)
                rollout = a if rollout is None else a @ rollout
            return rollout
        '''),
    _r("attention_rollout", "rollout_float64_inside", '''
        def attention_rollout(attentions, residual=0.5):
            dtype = attentions[0].dtype
            layers = torch.stack(list(attentions)).double().mean(dim=2)   # (L, B, T, T)
            eye = torch.eye(layers.shape[-1], dtype=torch.float64)
            rollout = eye.expand_as(layers[0])
            for w in layers:
                a = (1 - residual) * w + residual * eye
                rollout = (a / a.sum(-1, keepdim=True)) @ rollout
            return rollout.to(dtype)
        '''),
    _r("attention_rollout", "rollout_reduce", '''
        from functools import reduce

        def attention_rollout(attentions, residual=0.5):
            eye = torch.eye(attentions[0].shape[-1], dtype=attentions[0].dtype)
            mixed = []
            for layer in attentions:
                a = (1 - residual) * layer.mean(1) + residual * eye
                mixed.append(a / a.sum(-1, keepdim=True))
            return reduce(lambda acc, a: a @ acc, mixed)
        '''),
    _r("attention_rollout", "rollout_reversed_product", '''
        def attention_rollout(attentions, residual=0.5):
            eye = torch.eye(attentions[0].shape[-1], dtype=attentions[0].dtype)
            mixed = []
            for layer in attentions:
                a = (1 - residual) * layer.mean(1) + residual * eye
                mixed.append(a / a.sum(-1, keepdim=True))
            result = mixed[-1]
            for a in reversed(mixed[:-1]):
                result = result @ a        # A_L @ ... @ A_1
            return result
        '''),
    _r("attention_rollout", "rollout_stacked_mean", '''
        def attention_rollout(attentions, residual=0.5):
            W = torch.stack(list(attentions)).mean(dim=2)              # (L, B, T, T): heads averaged
            I = torch.eye(W.shape[-1], dtype=W.dtype, device=W.device)
            A = (1 - residual) * W + residual * I
            A = A / A.sum(dim=-1, keepdim=True)
            R = A[0]
            for l in range(1, A.shape[0]):
                R = torch.bmm(A[l], R)
            return R
        '''),
    _r("attention_rollout", "rollout_einsum_heads", '''
        def attention_rollout(attentions, residual=0.5):
            rollout = None
            for layer in attentions:
                h, T = layer.shape[1], layer.shape[-1]
                w = torch.einsum("bhij->bij", layer) / h
                a = (1 - residual) * w + residual * torch.eye(T, dtype=layer.dtype)
                a = a / a.sum(dim=-1, keepdim=True)
                rollout = a if rollout is None else torch.einsum("bij,bjk->bik", a, rollout)
            return rollout
        '''),
    # ---- distillation_loss ------------------------------------------------------------------------
    _r("distillation_loss", "distill_kl_div_log_target", '''
        def distillation_loss(cls_logits, distillation_logits, labels, teacher_logits, alpha=0.5, temperature=None):
            teacher_logits = teacher_logits.detach()
            label_loss = F.cross_entropy(cls_logits, labels)
            if temperature is None:
                teacher_loss = F.cross_entropy(distillation_logits, teacher_logits.argmax(dim=-1))
            else:
                T = temperature
                teacher_loss = T * T * F.kl_div(F.log_softmax(distillation_logits / T, dim=-1),
                                                F.log_softmax(teacher_logits / T, dim=-1),
                                                reduction="batchmean", log_target=True)
            return (1 - alpha) * label_loss + alpha * teacher_loss
        '''),
    _r("distillation_loss", "distill_kl_by_hand_log_of_softmax", '''
        def distillation_loss(cls_logits, distillation_logits, labels, teacher_logits, alpha=0.5, temperature=None):
            ce = F.cross_entropy(cls_logits, labels)
            t = teacher_logits.detach()
            if temperature is None:
                return (1 - alpha) * ce + alpha * F.cross_entropy(distillation_logits, t.argmax(1))
            p = torch.softmax(t / temperature, dim=1)
            q = torch.softmax(distillation_logits / temperature, dim=1)
            kl = (p * (torch.log(p) - torch.log(q))).sum(dim=1).mean()
            return (1 - alpha) * ce + alpha * temperature ** 2 * kl
        '''),
    _r("distillation_loss", "distill_one_hot_probabilities", '''
        def distillation_loss(cls_logits, distillation_logits, labels, teacher_logits, alpha=0.5, temperature=None):
            num_classes = cls_logits.shape[1]
            with torch.no_grad():
                if temperature is None:
                    target = F.one_hot(teacher_logits.argmax(1), num_classes).to(teacher_logits.dtype)
                else:
                    target = F.softmax(teacher_logits / temperature, dim=1)
            if temperature is None:
                teacher_term = F.cross_entropy(distillation_logits, target)
            else:
                teacher_term = temperature ** 2 * F.kl_div(F.log_softmax(distillation_logits / temperature, dim=1),
                                                           target, reduction="batchmean")
            return (1 - alpha) * F.cross_entropy(cls_logits, labels) + alpha * teacher_term
        '''),
    _r("distillation_loss", "distill_einsum_kl", '''
        def distillation_loss(cls_logits, distillation_logits, labels, teacher_logits, alpha=0.5, temperature=None):
            B = cls_logits.shape[0]
            loss = (1 - alpha) * F.nll_loss(F.log_softmax(cls_logits, -1), labels)
            if temperature is None:
                return loss + alpha * F.nll_loss(F.log_softmax(distillation_logits, -1), teacher_logits.argmax(-1))
            log_t = F.log_softmax(teacher_logits.detach() / temperature, -1)
            log_s = F.log_softmax(distillation_logits / temperature, -1)
            kl = torch.einsum("bk,bk->", log_t.exp(), log_t - log_s) / B
            return loss + alpha * temperature ** 2 * kl
        '''),
    _r("distillation_loss", "distill_loop_over_images", '''
        def distillation_loss(cls_logits, distillation_logits, labels, teacher_logits, alpha=0.5, temperature=None):
            losses = []
            for c, d, y, t in zip(cls_logits, distillation_logits, labels, teacher_logits.detach()):
                term_labels = -F.log_softmax(c, dim=0)[y]
                if temperature is None:
                    term_teacher = -F.log_softmax(d, dim=0)[t.argmax()]
                else:
                    p = F.softmax(t / temperature, dim=0)
                    term_teacher = temperature ** 2 * (p * (p.log() - F.log_softmax(d / temperature, dim=0))).sum()
                losses.append((1 - alpha) * term_labels + alpha * term_teacher)
            return torch.stack(losses).mean()
        '''),
    _r("distillation_loss", "distill_in_float64_cast_back", '''
        def distillation_loss(cls_logits, distillation_logits, labels, teacher_logits, alpha=0.5, temperature=None):
            dtype = cls_logits.dtype
            c, d, t = cls_logits.double(), distillation_logits.double(), teacher_logits.detach().double()
            loss = (1 - alpha) * F.cross_entropy(c, labels)
            if temperature is None:
                loss = loss + alpha * F.cross_entropy(d, t.argmax(dim=-1))
            else:
                kl = F.kl_div(F.log_softmax(d / temperature, -1), F.log_softmax(t / temperature, -1),
                              reduction="sum", log_target=True) / len(labels)
                loss = loss + alpha * temperature ** 2 * kl
            return loss.to(dtype)
        '''),
]
