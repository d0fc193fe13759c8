"""Chapter 00: the decoder block and the three families equal PyTorch's own modules (float64, to 1e-10);
the causal models never read the future; the cost measurement and the data-efficiency experiment."""

import pytest
import torch
import torch.nn as nn

from vitlearn import anatomy, encoder
from vitlearn.anatomy import (
    DecoderBlock,
    EncoderDecoder,
    NextTokenModel,
    SmallCNN,
    TokenEmbedding,
    data_efficiency,
    fit_quadratic,
    generate,
    measure_attention_cost,
)
from vitlearn.attention import causal_mask
from vitlearn.data import Split
from vitlearn.encoder import EncoderBlock
from vitlearn.train import TrainConfig

EXACT = dict(rtol=0, atol=1e-10)
D, HEADS = 16, 4


def _randomised(module: nn.Module) -> nn.Module:
    """Every weight random, the LayerNorms' included (their default 1 and 0 would hide a swapped pair)."""
    torch.manual_seed(0)
    with torch.no_grad():
        for p in module.parameters():
            p.normal_(0, 0.2)
    return module.double().eval()


def _torch_layer(kind, **changes):
    settings = dict(d_model=D, nhead=HEADS, dim_feedforward=4 * D, dropout=0.0, activation="gelu", batch_first=True,
                    norm_first=True, layer_norm_eps=1e-6, dtype=torch.float64)
    return kind(**{**settings, **changes}).eval()


def _float_causal(t):
    """nn.Transformer's own causal mask: 0 where allowed, -inf above the diagonal."""
    return nn.Transformer.generate_square_subsequent_mask(t, dtype=torch.float64)


def test_decoder_block_equals_nn_transformer_decoder_layer_with_other_source_length():
    ours = _randomised(DecoderBlock(D, HEADS, 4 * D))
    theirs = anatomy.load_into_torch(ours, _torch_layer(nn.TransformerDecoderLayer))
    x, memory = torch.randn(3, 5, D, dtype=torch.float64), torch.randn(3, 9, D, dtype=torch.float64)  # T=5, S=9
    with torch.no_grad():
        expected = theirs(x, memory, tgt_mask=_float_causal(5), tgt_is_causal=True)
        torch.testing.assert_close(ours(x, memory), expected, **EXACT)
        # and with the bool mask PyTorch's way round (True = blocked): the same
        torch.testing.assert_close(ours(x, memory), theirs(x, memory, tgt_mask=~causal_mask(5)), **EXACT)


def test_decoder_block_differs_from_pytorch_when_pytorch_gets_no_causal_mask():
    """The block is causal by construction: PyTorch's layer without tgt_mask computes something else."""
    ours = _randomised(DecoderBlock(D, HEADS, 4 * D))
    theirs = anatomy.load_into_torch(ours, _torch_layer(nn.TransformerDecoderLayer))
    x, memory = torch.randn(2, 5, D, dtype=torch.float64), torch.randn(2, 3, D, dtype=torch.float64)
    with torch.no_grad():
        assert (ours(x, memory) - theirs(x, memory)).abs().max() > 1e-3


def test_encoder_block_with_a_causal_mask_is_pytorchs_causal_encoder_layer():
    """A decoder-only (GPT) block is the encoder block under a causal mask."""
    ours = _randomised(EncoderBlock(D, HEADS, 4 * D))
    theirs = encoder.load_into_torch(ours, _torch_layer(nn.TransformerEncoderLayer))
    x = torch.randn(2, 6, D, dtype=torch.float64)
    with torch.no_grad():
        expected = theirs(x, src_mask=_float_causal(6), is_causal=True)
        torch.testing.assert_close(ours(x, causal_mask(6)), expected, **EXACT)
        out, maps = ours(x, causal_mask(6), return_attention=True)
    torch.testing.assert_close(out, expected, **EXACT)
    assert (maps[..., ~causal_mask(6)] == 0).all()  # no weight on a later token


def test_encoder_decoder_equals_nn_transformer():
    model = _randomised(EncoderDecoder(11, 13, max_length=10, dim=D, depth=2, num_heads=HEADS))
    torch_encoder = nn.TransformerEncoder(_torch_layer(nn.TransformerEncoderLayer), 2, enable_nested_tensor=False,
                                          norm=nn.LayerNorm(D, eps=1e-6, dtype=torch.float64))
    theirs = nn.Transformer(D, HEADS, 2, 2, 4 * D, dropout=0.0, activation="gelu", custom_encoder=torch_encoder,
                            batch_first=True, norm_first=True, layer_norm_eps=1e-6, dtype=torch.float64).eval()
    encoder.load_into_torch(model.encoder, theirs.encoder)
    for block, layer in zip(model.decoder, theirs.decoder.layers, strict=True):
        anatomy.load_into_torch(block, layer)
    encoder.copy_weights([(model.norm, theirs.decoder.norm)])
    source, target = torch.randint(0, 11, (2, 7)), torch.randint(0, 13, (2, 4))  # S=7, T=4
    with torch.no_grad():
        body = theirs(model.source_embed(source), model.target_embed(target), tgt_mask=_float_causal(4),
                      tgt_is_causal=True)  # (B, T, D)
        torch.testing.assert_close(model(source, target), model.head(body), **EXACT)


def _changed_after(ids, position, vocab):
    changed = ids.clone()
    changed[:, position:] = (changed[:, position:] + 1) % vocab
    return changed


def test_next_token_model_never_reads_later_tokens():
    torch.manual_seed(0)
    model = NextTokenModel(vocab_size=10, max_length=8, dim=D, depth=2, num_heads=HEADS).eval()
    ids = torch.randint(0, 10, (3, 8))
    with torch.no_grad():
        logits, changed = model(ids), model(_changed_after(ids, 5, 10))
    assert logits.shape == (3, 8, 10)
    torch.testing.assert_close(logits[:, :5], changed[:, :5], rtol=0, atol=1e-6)  # positions 0..4: unchanged
    assert (logits[:, 5:] - changed[:, 5:]).abs().max() > 1e-4


def test_encoder_decoder_reads_the_whole_source_but_only_earlier_targets():
    torch.manual_seed(0)
    model = EncoderDecoder(10, 12, max_length=8, dim=D, depth=1, num_heads=HEADS).eval()
    source, target = torch.randint(0, 10, (2, 7)), torch.randint(0, 12, (2, 5))
    with torch.no_grad():
        logits = model(source, target)
        later_target = model(source, _changed_after(target, 3, 12))
        last_source_token = model(_changed_after(source, 6, 10), target)
    assert logits.shape == (2, 5, 12)
    torch.testing.assert_close(logits[:, :3], later_target[:, :3], rtol=0, atol=1e-6)
    assert (logits[:, 3:] - later_target[:, 3:]).abs().max() > 1e-4
    assert ((logits - last_source_token).abs().amax(-1) > 1e-4).all()  # every target position sees the source


def test_generate_appends_the_greedy_next_token_each_step():
    torch.manual_seed(0)
    model = NextTokenModel(vocab_size=7, max_length=6, dim=D, depth=1, num_heads=HEADS).eval()
    prompt = torch.randint(0, 7, (2, 3))
    out = generate(model, prompt, steps=5)  # runs past max_length: the window slides
    assert out.shape == (2, 8) and torch.equal(out[:, :3], prompt)
    with torch.no_grad():
        assert torch.equal(out[:, 3], model(prompt)[:, -1].argmax(-1))
        assert torch.equal(out[:, 7], model(out[:, 1:7])[:, -1].argmax(-1))


@pytest.mark.parametrize("ids, error, words", [
    (torch.zeros(2, 3), TypeError, "int64"),
    (torch.zeros(3, dtype=torch.int64), TypeError, "(B, T)"),
    (torch.zeros(2, 9, dtype=torch.int64), ValueError, "max_length=8"),
    (torch.full((2, 3), 10), ValueError, "[0, 10)"),
    (torch.full((2, 3), -1), ValueError, "[0, 10)"),
])
def test_token_embedding_rejects_bad_ids_clearly(ids, error, words):
    with pytest.raises(error, match=None) as info:
        TokenEmbedding(10, 8, D)(ids)
    assert words in str(info.value)


def test_token_embedding_adds_one_vector_per_position():
    embed = TokenEmbedding(5, 4, D)
    ids = torch.tensor([[2, 2, 2]])
    with torch.no_grad():
        out = embed(ids)
        torch.testing.assert_close(out[0, 1] - out[0, 0], embed.position_table[1] - embed.position_table[0])


# ---- the cost of attention ------------------------------------------------------------------------


def test_attention_cost_has_one_entry_per_length_and_quadratic_memory():
    cost = measure_attention_cost([16, 32, 64], dim=32, num_heads=2, repeats=2)
    assert cost["length"] == [16, 32, 64]
    assert cost["bytes"] == [2 * n * n * 4 for n in (16, 32, 64)]  # h * N * N float32 weights
    assert all(s > 0 for s in cost["seconds"])


@pytest.mark.parametrize("lengths, repeats", [([], 3), ([0, 8], 3), ([8.5], 3), ("64", 3), ([8], 0)])
def test_attention_cost_rejects_bad_arguments(lengths, repeats):
    with pytest.raises(ValueError):
        measure_attention_cost(lengths, repeats=repeats)


def test_fit_quadratic_recovers_a_quadratic():
    a, b = fit_quadratic([10, 20, 40, 80], [3e-6 * n * n + 0.5 for n in (10, 20, 40, 80)])
    assert a == pytest.approx(3e-6) and b == pytest.approx(0.5)
    with pytest.raises(ValueError, match="at least two"):
        fit_quadratic([10], [1.0])
    with pytest.raises(ValueError, match="values > 0"):
        fit_quadratic([10, 20], [1.0, 0.0])


def test_fit_quadratic_weighs_relative_errors_so_short_lengths_count():
    lengths = [64, 128, 256, 512, 1024]
    values = [0.5, 1.0, 2.5, 12.0, 45.0]  # ms: overhead at first, then quadratic
    a, b = fit_quadratic(lengths, values)
    assert b > 0 and all(abs((a * n * n + b) / v - 1) < 0.6 for n, v in zip(lengths, values))


def test_measuring_the_cost_leaves_the_thread_count_alone():
    threads = torch.get_num_threads()
    measure_attention_cost([8], repeats=1)
    assert torch.get_num_threads() == threads


# ---- inductive bias: the data-efficiency experiment ------------------------------------------------


def test_small_cnn_classifies_any_image_size():
    assert SmallCNN()(torch.randn(3, 1, 8, 8)).shape == (3, 10)
    assert SmallCNN(in_channels=3, num_classes=4)(torch.randn(2, 3, 32, 24)).shape == (2, 4)


def _toy_split(n_per_class=20):
    """Two classes any model separates: bright top half vs bright bottom half."""
    g = torch.Generator().manual_seed(0)
    images = torch.rand(2 * n_per_class, 1, 8, 8, generator=g) * 0.2
    labels = torch.arange(2).repeat_interleave(n_per_class)
    images[labels == 0, :, :4] += 0.8
    images[labels == 1, :, 4:] += 0.8
    return Split(images, labels, images.clone(), labels.clone())


def test_data_efficiency_trains_every_model_on_every_fraction_reproducibly():
    models = {"CNN": lambda: SmallCNN(num_classes=2, width=4),
              "linear": lambda: nn.Sequential(nn.Flatten(), nn.Linear(64, 2))}
    config = TrainConfig(batch_size=8, device="cpu")
    results = data_efficiency(models, _toy_split(), fractions=(0.5, 1.0), steps=12, config=config)
    assert list(results) == ["CNN", "linear"] and all(list(r) == [0.5, 1.0] for r in results.values())
    assert all(0.0 <= acc <= 1.0 for r in results.values() for acc in r.values())
    assert results["linear"][1.0] == 1.0  # 12 steps are plenty for this toy task
    assert data_efficiency(models, _toy_split(), fractions=(0.5, 1.0), steps=12, config=config) == results
