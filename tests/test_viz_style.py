"""The projector style: every figure function takes ``style``; projector figures have larger type,
thicker lines and colour-blind-safe colours, keep them when drawn later, and leave rcParams alone."""

import inspect

import matplotlib.pyplot as plt
import pytest
import torch
from matplotlib.colors import to_hex

from vitlearn import viz
from vitlearn.data import sample_image

DISTANCES = torch.tensor([[2.0, 3.0, 4.0], [3.0, 5.0, 6.0]])  # (L, h) pixels


def test_every_figure_function_takes_a_keyword_only_style():
    functions = {name: f for name, f in vars(viz).items() if name.startswith("plot_") and callable(f)}
    assert len(functions) >= 18
    for name, function in functions.items():
        style = inspect.signature(function).parameters.get("style")
        assert style is not None and style.kind is inspect.Parameter.KEYWORD_ONLY, name
        assert style.default == "notebook", name


def test_projector_text_is_larger_and_bold():
    photo = sample_image(64)
    notebook = viz.plot_patch_grid(photo, 16)
    projector = viz.plot_patch_grid(photo, 16, style="projector")
    small, large = notebook.axes[0].title, projector.axes[0].title
    numbers = [fig.axes[0].texts[0].get_fontsize() for fig in (notebook, projector)]
    plt.close("all")
    assert large.get_fontsize() >= 1.4 * small.get_fontsize() and large.get_fontweight() == "bold"
    assert numbers[1] >= 1.6 * numbers[0]  # the patch numbers scale with the style too


def test_projector_lines_are_thicker_and_colours_okabe_ito():
    notebook = viz.plot_attention_distance(DISTANCES)
    projector = viz.plot_attention_distance(DISTANCES, style="projector")
    widths = [fig.axes[0].lines[0].get_linewidth() for fig in (notebook, projector)]
    heads = [tuple(to_hex(dots.get_facecolor()[0]) for dots in fig.axes[0].collections)  # one colour per head
             for fig in (notebook, projector)]
    plt.close("all")
    assert widths[1] >= 1.8 * widths[0]
    assert heads[1] == tuple(c.lower() for c in viz.OKABE_ITO[:3]) and heads[0] != heads[1]


def test_a_projector_figure_keeps_its_style_when_drawn_later():
    fig = viz.plot_attention_distance(DISTANCES, style="projector")
    fig.canvas.draw()  # outside the style: tick labels are made now
    sizes = {label.get_fontsize() for label in fig.axes[0].get_xticklabels() + fig.axes[0].get_yticklabels()}
    plt.close(fig)
    assert sizes == {viz.PROJECTOR_RC["font.size"]}


def test_the_context_manager_is_the_same_style_and_rc_is_restored():
    before = dict(plt.rcParams)
    with viz.projector():
        inside = viz.plot_cls_and_positions()
    keyword = viz.plot_cls_and_positions(style="projector")
    default = viz.plot_cls_and_positions()
    sizes = [fig.axes[0].title.get_fontsize() for fig in (inside, keyword, default)]
    plt.close("all")
    assert sizes[0] == sizes[1] > sizes[2]
    assert dict(plt.rcParams) == before


def test_long_titles_wrap_inside_the_figure():
    fig = viz.plot_shuffled_patches(sample_image(64), 16, torch.arange(16).flip(0), style="projector")
    fig.canvas.draw()
    title, frame = fig._suptitle.get_window_extent(), fig.bbox
    line = fig._suptitle.get_fontsize() * fig.dpi / 72  # one line's font size in pixels
    plt.close(fig)
    assert frame.x0 <= title.x0 and title.x1 <= frame.x1
    assert title.height > 1.8 * line  # wrapped onto a second line


def test_an_unknown_style_is_refused_with_the_choices():
    with pytest.raises(ValueError, match="'notebook', 'projector'.*'poster'"):
        viz.plot_cls_and_positions(style="poster")


def test_settings_made_meanwhile_survive_the_style():
    """Jupyter turns interactive mode on when a kernel's first figure is made, perhaps inside a
    style; undoing that would stop every later figure from showing inline."""
    interactive = plt.rcParams["interactive"]
    try:
        with viz.projector():
            plt.rcParams["interactive"] = not interactive
        assert plt.rcParams["interactive"] is (not interactive)
    finally:
        plt.rcParams["interactive"] = interactive
