"""Chapter 03's figures: token matrices as heatmaps, and test-accuracy curves of training runs."""

import pytest
import torch

from vitlearn import viz


def test_matrices_render_one_panel_per_entry_on_one_colour_scale(pixels):
    generator = torch.Generator().manual_seed(0)
    matrices = {"small": 0.1 * torch.randn(5, 8, generator=generator), "large": 2 * torch.randn(3, 8, generator=generator)}
    fig = viz.plot_matrices(matrices, "two panels", row_labels=None, highlight_rows=1)
    panels = [ax for ax in fig.axes if ax.images]
    assert len(panels) == 2 and len(fig.axes) == 3  # two heatmaps and one colour bar
    assert [ax.get_title() for ax in panels] == ["small", "large"]
    limits = {ax.images[0].get_clim() for ax in panels}
    assert len(limits) == 1 and limits.pop()[1] == pytest.approx(matrices["large"].abs().max().item())
    assert all(len(ax.patches) == 1 for ax in panels)  # the highlighted first row
    assert pixels(fig)[..., :3].std() > 20


def test_matrices_name_rows_and_reject_bad_input():
    fig = viz.plot_matrices({"sequence": torch.zeros(3, 4)}, "zeros", row_labels=["CLS", "patch 0", "patch 1"])
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["CLS", "patch 0", "patch 1"]
    with pytest.raises(ValueError, match="row_labels"):
        viz.plot_matrices({"sequence": torch.zeros(3, 4)}, "zeros", row_labels=["CLS"])
    with pytest.raises(ValueError):
        viz.plot_matrices({"flat": torch.zeros(4)}, "1-D")
    with pytest.raises(ValueError):
        viz.plot_matrices({}, "nothing")


def test_accuracy_curves_draw_one_line_per_run_coloured_by_setting(pixels):
    curves = {"CLS, seed 0": [0.5, 0.8, 0.95], "CLS, seed 1": [0.4, 0.85, 0.96], "mean, seed 0": [0.6, 0.9, 0.94]}
    fig = viz.plot_accuracy_curves(curves, "three runs", chance=0.1)
    ax = fig.axes[0]
    assert len(fig.axes) == 1 and ax.get_title() == "three runs"
    runs = ax.lines[:3]
    assert [list(line.get_ydata()) for line in runs] == [pytest.approx([100 * a for a in c]) for c in curves.values()]
    assert runs[0].get_color() == runs[1].get_color() != runs[2].get_color()
    assert len(ax.lines) == 4  # and the chance line
    assert pixels(fig)[..., :3].std() > 20


def test_accuracy_curves_reject_empty_runs():
    with pytest.raises(ValueError, match="curves"):
        viz.plot_accuracy_curves({"CLS": []}, "empty")
