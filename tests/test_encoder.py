"""Chapter 05 encoder: our pre-norm blocks equal PyTorch's TransformerEncoder (float64, to 1e-10)."""

import pytest
import torch
import torch.nn as nn

from vitlearn.encoder import MLP, Encoder, EncoderBlock, load_into_torch

EXACT = dict(rtol=0, atol=1e-10)
DIM, HEADS, MLP_DIM, EPS = 16, 4, 64, 1e-6


def _torch_layer(norm_first: bool = True, batch_first: bool = True) -> nn.TransformerEncoderLayer:
    return nn.TransformerEncoderLayer(DIM, HEADS, MLP_DIM, dropout=0.0, activation="gelu", batch_first=batch_first,
                                      norm_first=norm_first, layer_norm_eps=EPS, dtype=torch.float64)


def _randomise(module: nn.Module) -> nn.Module:
    """Random weights everywhere, LayerNorms included (their default 1 and 0 would hide a swap)."""
    with torch.no_grad():
        for p in module.parameters():
            p.normal_(0, 0.3)
    return module.double().eval()


def _tokens(b=3, t=5, seed=0):
    return torch.randn(b, t, DIM, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


@pytest.mark.parametrize("explicit", [False, True], ids=["fused", "explicit"])
def test_block_equals_pytorchs_pre_norm_layer(explicit):
    torch.manual_seed(0)
    ours = _randomise(EncoderBlock(DIM, HEADS, MLP_DIM, EPS, explicit=explicit))
    layer = _torch_layer().eval()
    load_into_torch(ours, layer)
    x = _tokens()
    torch.testing.assert_close(ours(x), layer(x), **EXACT)


@pytest.mark.parametrize("explicit", [False, True], ids=["fused", "explicit"])
def test_encoder_equals_pytorchs_transformer_encoder(explicit):
    torch.manual_seed(0)
    ours = _randomise(Encoder(DIM, 3, HEADS, MLP_DIM, EPS, explicit=explicit))
    theirs = nn.TransformerEncoder(_torch_layer(), 3, norm=nn.LayerNorm(DIM, EPS, dtype=torch.float64),
                                   enable_nested_tensor=False).eval()
    load_into_torch(ours, theirs)
    x = _tokens()
    torch.testing.assert_close(ours(x), theirs(x), **EXACT)


def test_post_norm_layer_computes_something_else():
    """Chapter 05: the blog post's layer is post-norm (PyTorch's default); ViT normalises before each branch."""
    torch.manual_seed(0)
    ours = _randomise(EncoderBlock(DIM, HEADS, MLP_DIM, EPS))
    post_norm = _torch_layer(norm_first=False).eval()
    load_into_torch(ours, post_norm)
    x = _tokens()
    assert (ours(x) - post_norm(x)).abs().max() > 0.1


def test_post_erratum_8_without_batch_first_every_image_gets_the_same_cls_output():
    """(B, T, D) read as (T, B, D): each CLS attends only to the other images' CLS, all equal."""
    torch.manual_seed(0)
    cls = torch.randn(1, 1, DIM, dtype=torch.float64).expand(4, 1, DIM)  # one shared CLS row
    tokens = torch.cat([cls, _tokens(4, 6)], dim=1)  # (B=4, T=7, D): different patches per image
    post_layer = nn.TransformerEncoderLayer(DIM, HEADS, dropout=0.0, dtype=torch.float64).eval()  # no batch_first
    post_cls = post_layer(tokens)[:, 0, :]  # (B, D)
    assert torch.allclose(post_cls, post_cls[:1].expand_as(post_cls), rtol=0, atol=1e-12)  # all images alike

    ours = Encoder(DIM, 1, HEADS, MLP_DIM).double().eval()
    our_cls = ours(tokens)[:, 0, :]  # (B, D)
    assert (our_cls - our_cls[:1]).abs().amax(-1)[1:].min() > 1e-3  # every image its own CLS output
    # and no image leaks into another: image 0 alone gives the same output as in the batch
    torch.testing.assert_close(ours(tokens[:1]), ours(tokens)[:1], **EXACT)


def test_return_attention_gives_one_map_per_block_and_the_same_output():
    encoder = Encoder(DIM, 3, HEADS, MLP_DIM).double()
    x = _tokens(2, 7)
    out, maps = encoder(x, return_attention=True)
    torch.testing.assert_close(out, encoder(x), **EXACT)
    assert len(maps) == 3 and all(m.shape == (2, HEADS, 7, 7) for m in maps)
    torch.testing.assert_close(maps[1].sum(-1), torch.ones(2, HEADS, 7, dtype=torch.float64), **EXACT)
    block_out, block_map = encoder.blocks[0](x, return_attention=True)
    torch.testing.assert_close(block_map, maps[0], **EXACT)
    torch.testing.assert_close(block_out, encoder.blocks[0](x), **EXACT)


def test_module_names_match_what_the_weight_loader_expects():
    names = set(dict(Encoder(8, 2, 2, 32).named_parameters()))
    for part in ["norm1", "attn.q_proj", "attn.k_proj", "attn.v_proj", "attn.out_proj", "norm2", "mlp.fc1", "mlp.fc2"]:
        assert {f"blocks.1.{part}.weight", f"blocks.1.{part}.bias"} <= names
    assert {"norm.weight", "norm.bias"} <= names


def test_mlp_uses_exact_gelu():
    mlp = MLP(4, 8).double()
    x = _tokens()[..., :4]
    exact = mlp.fc2(nn.functional.gelu(mlp.fc1(x)))
    tanh = mlp.fc2(nn.functional.gelu(mlp.fc1(x), approximate="tanh"))
    torch.testing.assert_close(mlp(x), exact, **EXACT)
    assert not torch.allclose(mlp(x), tanh, rtol=0, atol=1e-10)


def test_wrong_width_is_a_clear_error():
    with pytest.raises(ValueError, match=r"\(B, T, D\) = \(B, T, 16\)"):
        Encoder(DIM, 1, HEADS, MLP_DIM)(torch.zeros(2, 5, 8))


def test_load_into_torch_refuses_a_mismatched_layer():
    with pytest.raises(ValueError, match="num_heads=4"):
        load_into_torch(EncoderBlock(DIM, HEADS, MLP_DIM), _torch_layer().__class__(DIM, 2, MLP_DIM))
