"""Chapter 00's figures: the two blocks, the three masks, the cost of attention, data efficiency."""

import pytest

from vitlearn import viz

COST = {"length": [64, 128, 256, 512], "seconds": [4e-4, 9e-4, 3e-3, 1.1e-2],
        "bytes": [4 * n * n * 4 for n in (64, 128, 256, 512)]}


def _texts(fig):
    return [t.get_text() for ax in fig.axes for t in ax.texts]


def test_transformer_blocks_show_an_encoder_and_a_decoder_block(pixels):
    fig = viz.plot_transformer_blocks()
    texts = _texts(fig)
    assert len(fig.axes) == 2
    assert texts.count("LayerNorm") == 5  # two in the encoder block, three in the decoder block
    assert any("cross-attention" in t for t in texts) and any("causal" in t for t in texts)
    assert pixels(fig)[..., :3].std() > 20


def test_encoder_blocks_still_draw_two_blocks_after_sharing_the_drawing_code(pixels):
    fig = viz.plot_encoder_blocks()
    assert len(fig.axes) == 2 and _texts(fig).count("LayerNorm") == 4
    assert pixels(fig)[..., :3].std() > 20


def test_attention_masks_draw_full_causal_and_cross_panels(pixels):
    fig = viz.plot_attention_masks(query_length=5, key_length=3)
    assert len(fig.axes) == 3
    shapes = [ax.images[0].get_array().shape for ax in fig.axes]
    assert shapes == [(5, 5), (5, 5), (5, 3)]
    full, causal, cross = (ax.images[0].get_array() for ax in fig.axes)
    assert full.all() and cross.all() and causal.sum() == 5 * 6 / 2 and not causal[0, 1]
    assert pixels(fig)[..., :3].std() > 20


def test_attention_masks_reject_a_bad_length():
    with pytest.raises(ValueError, match="positive ints"):
        viz.plot_attention_masks(0, 3)


def test_attention_cost_draws_time_and_memory_with_the_fit(pixels):
    fig = viz.plot_attention_cost(COST, marks={"patch 16": 197, "patch 4": 3137})
    assert len(fig.axes) == 2
    labels = [line.get_label() for line in fig.axes[1].lines]
    assert "fit: 16·N² bytes" in labels and "measured" in labels and "the same fit, extrapolated" in labels
    assert any(t.startswith("fit: ") and t.endswith(" ms") for t in (line.get_label() for line in fig.axes[0].lines))
    assert pixels(fig)[..., :3].std() > 20


def test_attention_cost_rejects_a_malformed_cost():
    with pytest.raises(ValueError, match="'length', 'seconds' and 'bytes'"):
        viz.plot_attention_cost({"length": [1, 2]})
    with pytest.raises(ValueError, match="at least two lengths"):
        viz.plot_attention_cost({"length": [64], "seconds": [1e-3], "bytes": [100]})


def test_data_efficiency_draws_one_line_per_model_with_labelled_points(pixels):
    results = {"small CNN": {0.1: 0.91, 0.3: 0.95, 1.0: 0.97}, "ViT": {0.1: 0.85, 0.3: 0.93, 1.0: 0.97}}
    fig = viz.plot_data_efficiency(results, train_size=1437)
    (ax,) = fig.axes
    assert [line.get_label() for line in ax.lines] == ["small CNN", "ViT"]
    assert "91.0" in _texts(fig) and "85.0" in _texts(fig)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["10 %\n143 images", "30 %\n431 images",
                                                            "100 %\n1437 images"]
    assert pixels(fig)[..., :3].std() > 20


def test_data_efficiency_rejects_empty_results():
    with pytest.raises(ValueError, match="non-empty"):
        viz.plot_data_efficiency({"CNN": {}})
