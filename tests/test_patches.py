"""The chapter 01-02 references against independent computations (float64)."""

import pytest
import torch
import torch.nn as nn

from vitlearn import patches

SHAPES = [  # (B, C, H, W, P, D): square and non-square, 1 and 3 channels, several patch sizes
    (1, 3, 8, 8, 4, 8),
    (2, 1, 8, 12, 4, 5),
    (3, 3, 6, 10, 2, 7),
    (2, 3, 12, 9, 3, 6),
]


def _inputs(b, c, h, w, p, d, seed=0):
    g = torch.Generator().manual_seed(seed)
    image = torch.randn(b, c, h, w, generator=g, dtype=torch.float64)
    weight = torch.randn(c * p * p, d, generator=g, dtype=torch.float64)
    return image, weight


def _loop_embedding(image, p, weight):
    """Patch by patch with Python loops: reading order, each patch flattened (c, row, col)."""
    b, c, h, w = image.shape
    rows = []
    for n in range(b):
        tokens = []
        for top in range(0, h, p):
            for left in range(0, w, p):
                tokens.append(image[n, :, top:top + p, left:left + p].reshape(-1) @ weight)
        rows.append(torch.stack(tokens))
    return torch.stack(rows)


@pytest.mark.parametrize("shape", SHAPES)
def test_naive_matches_explicit_loops(shape):
    image, weight = _inputs(*shape)
    p = shape[4]
    torch.testing.assert_close(patches.image2emb_naive(image, p, weight), _loop_embedding(image, p, weight),
                               rtol=0, atol=1e-12)


@pytest.mark.parametrize("shape", SHAPES)
def test_conv_with_loaded_kernel_matches_nn_conv2d_and_naive(shape):
    b, c, h, w, p, d = shape
    image, weight = _inputs(*shape)
    kernel = patches.weight_to_kernel(weight, c, p)
    conv = nn.Conv2d(c, d, kernel_size=p, stride=p, bias=False).double()
    with torch.no_grad():
        conv.weight.copy_(kernel)
        by_module = conv(image).flatten(2).transpose(1, 2)
    torch.testing.assert_close(patches.image2emb_conv(image, kernel, p), by_module, rtol=0, atol=1e-12)
    torch.testing.assert_close(patches.image2emb_conv(image, kernel, p), patches.image2emb_naive(image, p, weight),
                               rtol=0, atol=1e-12)


@pytest.mark.parametrize("shape", SHAPES)
def test_weight_to_kernel_puts_column_d_in_output_channel_d(shape):
    b, c, h, w, p, d = shape
    _, weight = _inputs(*shape)
    kernel = patches.weight_to_kernel(weight, c, p)
    assert kernel.shape == (d, c, p, p)
    for out in range(d):
        for ch in range(c):
            for i in range(p):
                for j in range(p):
                    assert kernel[out, ch, i, j] == weight[ch * p * p + i * p + j, out]


@pytest.mark.parametrize("shape", SHAPES)
def test_patchify_matches_loops_and_unpatchify_inverts_it(shape):
    b, c, h, w, p, d = shape
    image, weight = _inputs(*shape)
    identity = torch.eye(c * p * p, dtype=torch.float64)
    torch.testing.assert_close(patches.patchify(image, p), _loop_embedding(image, p, identity), rtol=0, atol=0)
    assert torch.equal(patches.unpatchify(patches.patchify(image, p), p, h, w), image)


def test_patchify_agrees_with_an_independent_reshape_permute():
    image, _ = _inputs(2, 3, 8, 12, 4, 1)
    manual = image.reshape(2, 3, 2, 4, 3, 4).permute(0, 2, 4, 1, 3, 5).reshape(2, 6, 48)
    assert torch.equal(patches.patchify(image, 4), manual)


def test_gradients_flow_to_image_and_weight():
    image, weight = _inputs(2, 3, 8, 8, 4, 5)
    image.requires_grad_(True)
    weight.requires_grad_(True)
    patches.image2emb_naive(image, 4, weight).sum().backward()
    assert image.grad is not None and weight.grad is not None
    # d(sum)/d(weight[k, d]) = sum of feature k over all patches of all images
    torch.testing.assert_close(weight.grad, patches.patchify(image.detach(), 4).sum((0, 1))[:, None].expand(-1, 5))


def test_float32_unfold_and_conv_agree_to_float32_precision():
    g = torch.Generator().manual_seed(0)
    image, weight = torch.randn(4, 3, 32, 32, generator=g), torch.randn(48, 64, generator=g)
    diff = patches.image2emb_naive(image, 4, weight) - patches.image2emb_conv(image, patches.weight_to_kernel(weight, 3, 4), 4)
    assert diff.abs().max() < 1e-4


# ---- bad input: a clear error naming what was expected -------------------------------------------

IMAGE, WEIGHT = _inputs(1, 3, 8, 8, 4, 8)


@pytest.mark.parametrize("call, error, words", [
    (lambda: patches.image2emb_naive(IMAGE[0], 4, WEIGHT), ValueError, "(B, C, H, W)"),
    (lambda: patches.image2emb_naive(IMAGE, 3, WEIGHT), ValueError, "divisible by the patch size 3"),
    (lambda: patches.image2emb_naive(IMAGE, 4, WEIGHT[:40]), ValueError, "(48, D)"),
    (lambda: patches.image2emb_naive(IMAGE, 4, WEIGHT[0]), ValueError, "(C*P*P, D)"),
    (lambda: patches.image2emb_naive(IMAGE, 0, WEIGHT), ValueError, "positive int"),
    (lambda: patches.image2emb_naive(IMAGE, 4.0, WEIGHT), ValueError, "positive int"),
    (lambda: patches.image2emb_naive(IMAGE.numpy(), 4, WEIGHT), TypeError, "torch.Tensor"),
    (lambda: patches.image2emb_naive(IMAGE.to(torch.uint8), 4, WEIGHT), TypeError, "floating-point"),
    (lambda: patches.image2emb_naive(IMAGE, 4, WEIGHT.float()), TypeError, "share a dtype"),
    (lambda: patches.weight_to_kernel(WEIGHT, 1, 4), ValueError, "(16, D)"),
    (lambda: patches.weight_to_kernel(WEIGHT.T, 3, 4), ValueError, "(48, D)"),
    (lambda: patches.image2emb_conv(IMAGE, WEIGHT, 4), ValueError, "(D, C, P, P)"),
    (lambda: patches.image2emb_conv(IMAGE, torch.zeros(8, 1, 4, 4, dtype=torch.float64), 4), ValueError, "C=3"),
    (lambda: patches.image2emb_conv(IMAGE, torch.zeros(8, 3, 4, 4, dtype=torch.float64), 2), ValueError,
     "stride must equal the patch size 4"),
    (lambda: patches.image2emb_conv(IMAGE[..., :6], torch.zeros(8, 3, 4, 4, dtype=torch.float64), 4), ValueError,
     "W=6"),
    (lambda: patches.unpatchify(torch.zeros(1, 5, 48), 4, 8, 8), ValueError, "(B, 4, C*16)"),
])
def test_bad_input_raises_a_clear_error(call, error, words):
    with pytest.raises(error) as info:
        call()
    assert words in str(info.value)
