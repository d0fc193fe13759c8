"""Chapter 01's figures render headless; the sample photo and ``vitlearn exercises`` behave
(``vitlearn figures``: tests/test_figures.py)."""

import matplotlib.pyplot as plt
import pytest
import torch

from vitlearn import cli, viz
from vitlearn.data import sample_image


def test_sample_image_is_a_real_photo_in_unit_range():
    photo = sample_image(None)
    assert photo.shape == (1, 3, 600, 512) and photo.dtype == torch.float32
    assert 0.0 <= photo.min() and photo.max() <= 1.0
    assert photo.std() > 0.1  # a photograph, not a constant


@pytest.mark.parametrize("size, shape", [(224, (1, 3, 224, 224)), ((64, 96), (1, 3, 64, 96))])
def test_sample_image_resizes(size, shape):
    assert sample_image(size).shape == shape


def test_sample_image_rejects_a_bad_size():
    with pytest.raises(ValueError, match="positive int"):
        sample_image((0, 32))



def test_patch_grid_numbers_every_patch():
    fig = viz.plot_patch_grid(sample_image(64), 16)
    texts = [t.get_text() for t in fig.axes[0].texts]
    plt.close(fig)
    assert texts == [str(i) for i in range(16)]


def test_patch_sequence_shows_tokens_in_reading_order():
    image = torch.arange(4 * 6, dtype=torch.float32).reshape(1, 1, 4, 6) / 24  # 2 x 3 patches of 2 x 2
    fig = viz.plot_patch_sequence(image, 2)
    ax, = fig.axes
    firsts = [tile.get_array()[0, 0] for tile in ax.images]
    lefts = [tile.get_extent()[0] for tile in ax.images]
    plt.close(fig)
    assert [text.get_text() for text in ax.texts] == [str(i) for i in range(6)]
    assert firsts == sorted(firsts) and len(firsts) == 6  # token k starts further along the image
    assert lefts == sorted(lefts)  # ... and is drawn further right


def test_figure_functions_validate_input():
    with pytest.raises(ValueError, match="divisible"):
        viz.plot_patch_grid(sample_image(64), 10)
    with pytest.raises(ValueError, match=r"\(48, D\)"):
        viz.plot_weight_and_kernels(torch.zeros(40, 4), 3, 4)


def test_cli_lists_exercises(capsys):
    assert cli.main(["exercises"]) == 0
    out = capsys.readouterr().out
    assert "image2emb_naive(image (B, C, H, W)" in out and "forgot_transpose" in out
