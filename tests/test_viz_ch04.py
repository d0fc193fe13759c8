"""Chapter 04's figures: the photo beside its shuffled patches renders, and rejects a bad permutation;
the CLS + position diagram labels the token sequence with its shapes."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from vitlearn import patches, viz
from vitlearn.data import sample_image


def test_shuffled_patches_shows_the_image_and_the_same_patches_reordered():
    image = sample_image(64)  # (1, 3, 64, 64): 4x4 patches of 16
    permutation = torch.randperm(16, generator=torch.Generator().manual_seed(0))
    fig = viz.plot_shuffled_patches(image, 16, permutation)
    assert len(fig.axes) == 2 and fig._suptitle.get_text()
    left, right = (torch.from_numpy(np.asarray(ax.images[0].get_array())) for ax in fig.axes)  # (H, W, C)
    assert torch.allclose(left, image[0].permute(1, 2, 0))
    shuffled = patches.unpatchify(patches.patchify(image, 16)[:, permutation], 16, 64, 64)
    assert torch.allclose(right, shuffled[0].permute(1, 2, 0))
    fig.canvas.draw()
    assert np.asarray(fig.canvas.buffer_rgba())[..., :3].std() > 20  # not blank
    plt.close(fig)


@pytest.mark.parametrize("permutation", [torch.arange(15), torch.zeros(16, dtype=torch.long), [0, 1]])
def test_shuffled_patches_rejects_a_bad_permutation(permutation):
    with pytest.raises(ValueError, match="permutation"):
        viz.plot_shuffled_patches(sample_image(64), 16, permutation)


def test_cls_and_positions_diagram_labels_tokens_and_shapes(pixels):
    fig = viz.plot_cls_and_positions(196, 768)
    words = [text.get_text() for text in fig.axes[0].texts]
    assert len(fig.axes) == 1
    assert {"CLS", "p1", "p196", "e0", "e196", "+ e196", "…"} <= set(words)
    assert "p4" not in words  # the middle of the sequence is elided
    assert {"(B, N, D) = (B, 196, 768)", "(B, N+1, D) = (B, 197, 768)"} <= set(words)
    assert pixels(fig)[..., :3].std() > 20
    short = viz.plot_cls_and_positions(3, 8)
    assert {"p1", "p2", "p3", "e3"} <= {text.get_text() for text in short.axes[0].texts}
    assert "…" not in {text.get_text() for text in short.axes[0].texts}
    plt.close(short)


@pytest.mark.parametrize("sizes", [dict(num_patches=0), dict(dim=8.0), dict(shown=-1)])
def test_cls_and_positions_rejects_bad_sizes(sizes):
    with pytest.raises(ValueError, match="positive ints"):
        viz.plot_cls_and_positions(**sizes)
