"""The chapter 03-04 references against independent computations (float64), Hugging Face, and figures."""

import numpy as np
import pytest
import torch

from vitlearn import tokens, viz


def _randn(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


# ---- prepend_cls --------------------------------------------------------------------------------------

@pytest.mark.parametrize("b, n, d", [(1, 4, 8), (3, 6, 5), (4, 12, 7)])
def test_prepend_cls_matches_one_cat_per_image(b, n, d):
    x, cls = _randn(b, n, d), _randn(1, d, seed=1)
    expected = torch.stack([torch.cat([cls, x[i]]) for i in range(b)])
    out = tokens.prepend_cls(x, cls)
    assert out.shape == (b, n + 1, d) and torch.equal(out, expected)


def test_every_image_sends_its_gradient_to_the_one_cls_token():
    x, cls = _randn(3, 4, 5), _randn(1, 5, seed=1).requires_grad_(True)
    weights = _randn(3, 5, 5, seed=2)
    (tokens.prepend_cls(x, cls) * weights).sum().backward()
    torch.testing.assert_close(cls.grad, weights[:, 0].sum(0, keepdim=True), rtol=0, atol=1e-12)


# ---- add_position_embedding -----------------------------------------------------------------------------

def test_add_position_embedding_matches_a_loop_and_leaves_its_input_alone():
    x, table = _randn(3, 5, 4), _randn(9, 4, seed=1)
    before = x.clone()
    out = tokens.add_position_embedding(x, table)
    expected = torch.stack([torch.stack([x[i, t] + table[t] for t in range(5)]) for i in range(3)])
    torch.testing.assert_close(out, expected, rtol=0, atol=0)
    assert torch.equal(x, before) and out.data_ptr() != x.data_ptr()


def test_gradient_reaches_only_the_table_rows_in_use():
    x, table = _randn(2, 5, 4), _randn(9, 4, seed=1).requires_grad_(True)
    tokens.add_position_embedding(x, table).sum().backward()
    assert torch.equal(table.grad[:5], torch.full((5, 4), 2.0, dtype=torch.float64))  # one per image
    assert torch.equal(table.grad[5:], torch.zeros(4, 4, dtype=torch.float64))


def test_add_position_embedding_works_on_a_leaf_that_requires_grad():
    x = _randn(2, 3, 4).requires_grad_(True)  # the case where the seed's `+=` raises
    out = tokens.add_position_embedding(x, _randn(3, 4, seed=1))
    assert out.requires_grad and x.grad is None


# ---- sincos_position_embedding_2d -----------------------------------------------------------------------

def _mae_sincos(grid_h, grid_w, dim):
    """MAE's numpy recipe (get_2d_sincos_pos_embed), written out for a grid_h x grid_w grid."""
    def one_axis(pos, d):
        omega = 1.0 / 10000 ** (np.arange(d // 2, dtype=np.float64) / (d / 2.0))
        out = np.einsum("m,d->md", pos.reshape(-1), omega)
        return np.concatenate([np.sin(out), np.cos(out)], axis=1)

    grid = np.stack(np.meshgrid(np.arange(grid_w, dtype=np.float64), np.arange(grid_h, dtype=np.float64)))
    return np.concatenate([one_axis(grid[0], dim // 2), one_axis(grid[1], dim // 2)], axis=1)


@pytest.mark.parametrize("grid_h, grid_w, dim", [(4, 4, 8), (3, 5, 12), (14, 14, 64), (2, 7, 4)])
def test_sincos_matches_mae(grid_h, grid_w, dim):
    table = tokens.sincos_position_embedding_2d(grid_h, grid_w, dim, dtype=torch.float64)
    assert table.shape == (grid_h * grid_w, dim)
    np.testing.assert_allclose(table.numpy(), _mae_sincos(grid_h, grid_w, dim), rtol=0, atol=1e-12)


def test_sincos_first_half_is_the_column_second_half_the_row():
    grid_h, grid_w, dim = 3, 5, 16
    table = tokens.sincos_position_embedding_2d(grid_h, grid_w, dim, dtype=torch.float64).reshape(grid_h, grid_w, dim)
    column_half, row_half = table[..., : dim // 2], table[..., dim // 2:]
    assert torch.equal(column_half, column_half[:1].expand(grid_h, -1, -1))  # the same in every row
    assert torch.equal(row_half, row_half[:, :1].expand(-1, grid_w, -1))  # the same in every column
    quarter = dim // 4
    origin = torch.cat([torch.zeros(quarter), torch.ones(quarter)] * 2).double()  # sin 0 = 0, cos 0 = 1
    assert torch.equal(table[0, 0], origin)
    omega = 1.0 / 10000 ** (torch.arange(quarter, dtype=torch.float64) / quarter)
    torch.testing.assert_close(table[2, 4, quarter: 2 * quarter], torch.cos(4 * omega))  # cos(column * omega)
    torch.testing.assert_close(table[2, 4, 2 * quarter: 3 * quarter], torch.sin(2 * omega))  # sin(row * omega)


def test_sincos_similarity_depends_only_on_the_offset():
    grid_h, grid_w, dim = 4, 6, 16
    table = tokens.sincos_position_embedding_2d(grid_h, grid_w, dim, dtype=torch.float64)
    omega = 1.0 / 10000 ** (torch.arange(dim // 4, dtype=torch.float64) / (dim // 4))
    positions = [(r, c) for r in range(grid_h) for c in range(grid_w)]
    for i, (r1, c1) in enumerate(positions):
        for j, (r2, c2) in enumerate(positions):
            # sin a sin b + cos a cos b = cos(a - b), per channel pair and per axis
            expected = torch.cos((c1 - c2) * omega).sum() + torch.cos((r1 - r2) * omega).sum()
            torch.testing.assert_close(table[i] @ table[j], expected, rtol=0, atol=1e-12)


def test_sincos_dtype():
    assert tokens.sincos_position_embedding_2d(2, 3, 8).dtype == torch.float32
    assert tokens.sincos_position_embedding_2d(2, 3, 8, dtype=torch.float64).dtype == torch.float64


# ---- interpolate_position_embedding -----------------------------------------------------------------------

def _cubic_weights(t):
    """PyTorch's bicubic kernel (a = -0.75) for the four taps around a fractional offset t."""
    a = -0.75
    near = lambda x: ((a + 2) * x - (a + 3)) * x * x + 1  # noqa: E731, |x| <= 1
    far = lambda x: ((a * x - 5 * a) * x + 8 * a) * x - 4 * a  # noqa: E731, 1 < |x| < 2
    return [far(t + 1), near(t), near(1 - t), far(2 - t)]


def _resize_axis(values, new_len):
    """Bicubic resize of axis 0 of a numpy array, align_corners=False, edges replicated."""
    old_len = values.shape[0]
    out = []
    for j in range(new_len):
        source = (j + 0.5) * old_len / new_len - 0.5
        left = int(np.floor(source))
        taps = [values[min(max(k, 0), old_len - 1)] for k in range(left - 1, left + 3)]
        out.append(sum(w * v for w, v in zip(_cubic_weights(source - left), taps)))
    return np.stack(out)


@pytest.mark.parametrize("old, new, prefix", [((4, 4), (6, 6), 1), ((3, 5), (6, 4), 1), ((6, 6), (4, 4), 1),
                                              ((4, 6), (2, 3), 0), ((2, 2), (5, 3), 2)])
def test_interpolation_matches_separable_bicubic_loops(old, new, prefix):
    d = 3
    table = _randn(prefix + old[0] * old[1], d)
    grid = table[prefix:].numpy().reshape(*old, d)
    resized = _resize_axis(_resize_axis(grid, new[0]).transpose(1, 0, 2), new[1]).transpose(1, 0, 2)
    out = tokens.interpolate_position_embedding(table, old, new, prefix)
    assert out.shape == (prefix + new[0] * new[1], d)
    assert torch.equal(out[:prefix], table[:prefix])
    np.testing.assert_allclose(out[prefix:].numpy(), resized.reshape(-1, d), rtol=0, atol=1e-12)


@pytest.mark.parametrize("dtype, new_size", [(torch.float32, (48, 48)), (torch.float32, (48, 64)),
                                             (torch.float64, (56, 40))])
def test_interpolation_matches_hugging_face(dtype, new_size):
    from transformers import ViTConfig
    from transformers.models.vit.modeling_vit import ViTEmbeddings

    config = ViTConfig(image_size=32, patch_size=8, hidden_size=48, num_hidden_layers=1, num_attention_heads=4,
                       intermediate_size=96)
    embeddings = ViTEmbeddings(config).to(dtype)
    table = _randn(1 + 4 * 4, 48).to(dtype)
    with torch.no_grad():
        embeddings.position_embeddings.copy_(table[None])
        new_grid = (new_size[0] // 8, new_size[1] // 8)
        tokens_in = torch.zeros(1, 1 + new_grid[0] * new_grid[1], 48, dtype=dtype)
        theirs = embeddings.interpolate_pos_encoding(tokens_in, *new_size)[0]
    ours = tokens.interpolate_position_embedding(table, (4, 4), new_grid)
    assert ours.dtype == dtype
    torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-6 if dtype == torch.float32 else 1e-12)


def test_interpolation_keeps_gradients_and_equal_grids_return_the_table():
    table = _randn(1 + 3 * 5, 4).requires_grad_(True)
    tokens.interpolate_position_embedding(table, (3, 5), (6, 4)).sum().backward()
    assert table.grad is not None and table.grad[0].eq(1).all()  # the CLS row is passed through
    assert tokens.interpolate_position_embedding(table, (3, 5), (3, 5)) is table


# ---- bad input: a clear error naming what was expected -------------------------------------------------

X, CLS, TABLE = _randn(2, 4, 8), _randn(1, 8), _randn(17, 8)


@pytest.mark.parametrize("call, error, words", [
    (lambda: tokens.prepend_cls(X[0], CLS), ValueError, "(B, N, D)"),
    (lambda: tokens.prepend_cls(X, CLS[0]), ValueError, "(1, D)"),
    (lambda: tokens.prepend_cls(X, CLS[:, :5]), ValueError, "D=8"),
    (lambda: tokens.prepend_cls(X, CLS.expand(2, 8)), ValueError, "one token shared"),
    (lambda: tokens.prepend_cls(X, CLS.float()), TypeError, "share a dtype"),
    (lambda: tokens.prepend_cls(X.tolist(), CLS), TypeError, "torch.Tensor"),
    (lambda: tokens.add_position_embedding(X, TABLE[:3]), ValueError,
     "T=4 tokens but the position table only max_len=3"),
    (lambda: tokens.add_position_embedding(X, TABLE[:3]), ValueError, "interpolate_position_embedding"),
    (lambda: tokens.add_position_embedding(X, TABLE[:, :5]), ValueError, "(max_len, D) with D=8"),
    (lambda: tokens.add_position_embedding(X, TABLE[None]), ValueError, "(max_len, D)"),
    (lambda: tokens.add_position_embedding(X, TABLE.float()), TypeError, "share a dtype"),
    (lambda: tokens.sincos_position_embedding_2d(4, 4, 6), ValueError, "divisible by 4"),
    (lambda: tokens.sincos_position_embedding_2d(0, 4, 8), ValueError, "grid_h must be a positive int"),
    (lambda: tokens.interpolate_position_embedding(TABLE, (4, 4), (6, 6), 2), ValueError, "(18, D)"),
    (lambda: tokens.interpolate_position_embedding(TABLE, (3, 5), (6, 6)), ValueError, "(16, D)"),
    (lambda: tokens.interpolate_position_embedding(TABLE, 4, (6, 6)), ValueError, "(height, width)"),
    (lambda: tokens.interpolate_position_embedding(TABLE, (4, 4), (0, 6)), ValueError, "new_grid[0]"),
    (lambda: tokens.interpolate_position_embedding(TABLE, (4, 4), (6, 6), -1), ValueError, "int >= 0"),
    (lambda: tokens.interpolate_position_embedding(TABLE[None], (4, 4), (6, 6)), ValueError,
     "(num_prefix + old_h*old_w, D)"),
])
def test_bad_input_raises_a_clear_error(call, error, words):
    with pytest.raises(error) as info:
        call()
    assert words in str(info.value)


# ---- figures ----------------------------------------------------------------------------------------------


def test_position_similarity_draws_one_tile_per_patch_and_a_colorbar(pixels):
    table = torch.cat([torch.zeros(1, 16), tokens.sincos_position_embedding_2d(3, 5, 16)])
    fig = viz.plot_position_similarity(table, (3, 5), num_prefix_tokens=1)
    assert len(fig.axes) == 2 and fig._suptitle.get_text()  # the tiles, the colour bar
    tiles = [image.get_array() for image in fig.axes[0].images]  # reading order
    assert len(tiles) == 3 * 5 and all(tile.shape == (3, 5) for tile in tiles)
    assert tiles[7][1, 2] == pytest.approx(1.0)  # patch (1, 2) is its own best match
    assert pixels(fig)[..., :3].std() > 20


def test_position_interpolation_shows_the_channels_before_and_after(pixels):
    table = torch.cat([torch.zeros(1, 8), tokens.sincos_position_embedding_2d(4, 4, 8)])
    fig = viz.plot_position_interpolation(table, (4, 4), (6, 8), channels=(0, 5, 7))
    assert len(fig.axes) == 2 * 3
    assert [ax.images[0].get_array().shape for ax in fig.axes] == [(4, 4)] * 3 + [(6, 8)] * 3
    assert fig.axes[4].get_title() == "channel 5, 6x8"
    assert pixels(fig)[..., :3].std() > 20


@pytest.mark.parametrize("call", [
    lambda: viz.plot_position_similarity(TABLE, (4, 4)),
    lambda: viz.plot_position_interpolation(TABLE, (4, 4), (6, 6), channels=(8,)),
])
def test_figures_reject_a_table_that_does_not_fit(call):
    with pytest.raises(ValueError):
        call()
