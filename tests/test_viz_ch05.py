"""Chapter 05's figure: the pre-norm and post-norm encoder blocks side by side."""

import matplotlib.pyplot as plt
import numpy as np

from vitlearn import viz


def test_encoder_blocks_render_two_non_blank_panels():
    fig = viz.plot_encoder_blocks()
    assert len(fig.axes) == 2
    fig.canvas.draw()
    rgba = np.asarray(fig.canvas.buffer_rgba())
    plt.close(fig)
    assert rgba[..., :3].std() > 20
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert texts.count("LayerNorm") == 4  # two LayerNorm boxes in each block
