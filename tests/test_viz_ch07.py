"""Chapter 07's figures render headless to non-blank images, and reject mismatched inputs."""

import numpy as np
import pytest
import torch

from vitlearn import interpret, viz
from vitlearn.model import ViT


@pytest.fixture(scope="module")
def attentions():
    torch.manual_seed(0)
    model = ViT(image_size=8, patch_size=2, in_channels=1, dim=16, depth=3, num_heads=2)
    images = torch.rand(4, 1, 8, 8)
    _, weights = model(images, return_attention=True)
    return model, images, weights


def test_training_curves(pixels):
    fig = viz.plot_training_curves([2.3, 1.2, 0.8, 0.5] * 10, [0.6, 0.9, 0.98], train_accuracy=[0.5, 0.8, 0.97],
                                   epoch_seconds=[1.0, 2.0, 3.0], reference=("SVC", 0.9889))
    assert len(fig.axes) == 2 and "SVC" in " ".join(t.get_text() for t in fig.axes[1].get_legend().get_texts())
    assert pixels(fig)[..., :3].std() > 20
    with pytest.raises(ValueError, match="one value per epoch"):
        viz.plot_training_curves([1.0], [0.5, 0.6], epoch_seconds=[1.0])


def test_attention_rollout(pixels, attentions):
    model, images, weights = attentions
    maps = interpret.cls_rollout_map(weights, model.grid)
    fig = viz.plot_attention_rollout(images, maps, labels=["a", "b", "c", "d"])
    assert len(fig.axes) == 2 * 4 + 1  # image and overlay per input, one colour bar
    assert pixels(fig)[..., :3].std() > 20
    with pytest.raises(ValueError, match="one map per image"):
        viz.plot_attention_rollout(images, maps[:2])


def test_embedding_filters(pixels):
    weight = torch.randn(32, 1, 4, 4, generator=torch.Generator().manual_seed(0))
    fig = viz.plot_embedding_filters(*interpret.embedding_filter_components(weight, 8))
    assert len(fig.axes) == 8 + 1 and "PC 1" in fig.axes[0].get_title()
    assert pixels(fig)[..., :3].std() > 20
    rgb = viz.plot_embedding_filters(torch.randn(3, 3, 4, 4))
    assert len(rgb.axes) == 3 and pixels(rgb)[..., :3].std() > 20


def test_attention_distance(pixels, attentions):
    model, _, weights = attentions
    fig = viz.plot_attention_distance(interpret.mean_attention_distance(weights, model.grid, 2), max_distance=8.5)
    ax = fig.axes[0]
    assert len(ax.collections) == 2 and len(ax.get_xticks()) == 3  # one dot series per head, a tick per layer
    assert pixels(fig)[..., :3].std() > 20


def test_misclassified(pixels):
    images = torch.rand(5, 1, 8, 8)
    fig = viz.plot_misclassified(images, torch.tensor([0, 1, 2, 3, 4]), torch.tensor([0, 7, 2, 9, 4]))
    assert [ax.get_title() for ax in fig.axes] == ["1 → 7", "3 → 9"]
    assert pixels(fig)[..., :3].std() > 20
    none = viz.plot_misclassified(images, torch.arange(5), torch.arange(5))
    assert len(none.axes) == 1 and pixels(none)[..., :3].std() > 5


def test_shifts(pixels):
    image = torch.zeros(1, 8, 8)
    image[0, 2:6, 3] = 1.0  # a vertical stroke
    fig = viz.plot_shifts(image, ((0.0, 0.0), (0.0, 0.5), (1.0, -1.0)), title="moved")
    assert [ax.get_title() for ax in fig.axes] == ["(+0, +0)", "(+0, +0.5)", "(+1, -1)"]
    shown = [ax.get_images()[0].get_array() for ax in fig.axes]  # what each panel draws, (8, 8)
    assert np.allclose(shown[1][2:6, 3:5], 0.5) and np.allclose(shown[2][3:7, 2], 1.0)  # half: two half columns
    assert fig.get_suptitle() == "moved" and pixels(fig)[..., :3].std() > 20
    default = viz.plot_shifts(torch.rand(3, 8, 8), style="projector")
    assert len(default.axes) == len(viz.SHIFTS) and pixels(default)[..., :3].std() > 20
    with pytest.raises(ValueError, match=r"image must be 3-D with shape \(C, H, W\)"):
        viz.plot_shifts(torch.rand(1, 1, 8, 8))
