"""Chapter 06's figure: one image's forward pass renders, and rejects mismatched shapes."""

import pytest
import torch

from vitlearn import viz


def _inputs(tokens=5, width=16, classes=10):
    g = torch.Generator().manual_seed(0)
    image = torch.rand(1, 8, 8, generator=g)  # (C, H, W): 2x2 patches of 4
    return (image, 4, torch.randn(tokens, width, generator=g), torch.randn(tokens, width, generator=g),
            torch.randn(classes, generator=g).softmax(0))


def test_forward_pass_renders_four_non_blank_panels(pixels):
    image, patch_size, tokens, encoded, probabilities = _inputs()
    fig = viz.plot_forward_pass(image[None], patch_size, tokens, encoded, probabilities, label=3)
    assert len(fig.axes) == 4 and fig._suptitle.get_text()
    bars = fig.axes[3].patches
    assert len(bars) == 10 and bars[3].get_facecolor() != bars[0].get_facecolor()  # the true class stands out
    assert [t.get_text() for t in fig.axes[1].get_yticklabels()][0] == "CLS"
    assert pixels(fig)[..., :3].std() > 20


@pytest.mark.parametrize("change, words", [
    (dict(tokens=4), "(1 + N, D) = (5, D)"),  # no CLS row
    (dict(label=10), "label must lie in [0, 10)"),
])
def test_forward_pass_rejects_mismatched_inputs(change, words):
    image, patch_size, tokens, encoded, probabilities = _inputs(tokens=change.get("tokens", 5))
    with pytest.raises(ValueError) as info:
        viz.plot_forward_pass(image, patch_size, tokens, encoded, probabilities, label=change.get("label", 0))
    assert words in str(info.value)
