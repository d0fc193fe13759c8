"""Chapter 05's figure: the pre-norm and post-norm encoder blocks side by side."""

from vitlearn import viz


def test_encoder_blocks_render_two_non_blank_panels(pixels):
    fig = viz.plot_encoder_blocks()
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert len(fig.axes) == 2
    assert pixels(fig)[..., :3].std() > 20
    assert texts.count("LayerNorm") == 4  # two LayerNorm boxes in each block
