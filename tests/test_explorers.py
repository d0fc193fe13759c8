"""The live explorers (vitlearn.viz.explore): the figure each control setting draws, the learner's own
function shown right or wrong, one deterministic static picture outside a kernel, and a live widget
whose picture follows its controls. (In a real browser: tests/test_browser_explorers.py.)"""

import io

import matplotlib.pyplot as plt
import pytest
import torch

from vitlearn import interpret, viz
from vitlearn.data import sample_image
from vitlearn.model import ViT
from vitlearn.viz import explore


def small_vit(**fields) -> ViT:
    torch.manual_seed(0)
    return ViT(**{"image_size": 8, "patch_size": 2, "in_channels": 1, "num_classes": 10, "dim": 16, "depth": 2,
                  "num_heads": 2, **fields})


def every_explorer() -> list[explore.Explorer]:
    return [viz.patch_explorer(), viz.patch_vector_explorer(), viz.position_explorer(), viz.mask_explorer(),
            viz.attention_explorer(small_vit())]


def png_size(data: bytes) -> tuple[int, int]:
    """(width, height) read from a PNG's header."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def caption(fig) -> str:
    text = fig._supxlabel.get_text() if fig._supxlabel else ""
    plt.close(fig)
    return text


def test_outside_a_kernel_each_explorer_is_one_picture_of_its_first_state_with_a_note():
    for explorer in every_explorer():
        bundle = explorer._repr_mimebundle_()
        assert set(bundle) == {"image/png", "text/plain"}, explorer.name
        assert png_size(bundle["image/png"])[0] == explore.PIXEL_WIDTH
        first = ", ".join(f"{c.label} = {c.value}" for c in explorer.controls.values())
        assert bundle["text/plain"].startswith(f"{explorer.name}: live in JupyterLab") and first in bundle["text/plain"]
        assert "\n" not in bundle["text/plain"] and repr(explorer) == bundle["text/plain"]


def test_the_static_output_is_deterministic_so_nbval_can_compare_it():
    first, again = viz.position_explorer()._repr_mimebundle_(), viz.position_explorer()._repr_mimebundle_()
    assert first == again


def test_moving_a_control_changes_the_picture_and_coming_back_restores_it():
    explorer = viz.patch_explorer()
    at_32 = explorer.png()
    at_16 = explorer.png(patch_size=16)
    assert at_16 != at_32 and explorer.png(patch_size=32) == at_32
    with pytest.raises(ValueError, match="no control patch; its controls: patch_size"):
        explorer.png(patch=3)


def test_the_patch_slider_offers_the_sizes_that_cut_the_image_exactly():
    explorer = viz.patch_explorer(sample_image((96, 160)))
    assert explorer.controls["patch_size"].options == (4, 8, 16, 32)  # divide both 96 and 160, up to 96 / 2
    grid = explorer.figures(patch_size=16)[0]
    assert "96x160 image, 16x16 patches: 6 x 10 = 60 tokens" in grid.axes[0].get_title()
    assert "-> (1, 60, 8)\nexpected (1, N, D) = (1, 60, 8)" in caption(grid)


def test_the_learners_patch_function_is_shown_and_a_wrong_shape_is_flagged():
    def image2emb_transposed(image, patch_size, weight):
        return torch.nn.functional.unfold(image, patch_size, stride=patch_size).mT.matmul(weight).mT  # (1, D, N)

    grid = viz.patch_explorer(patch_fn=image2emb_transposed).figures()[0]
    assert grid._supxlabel.get_color() == plt.rcParams["axes.prop_cycle"].by_key()["color"][3]  # red
    assert "image2emb_transposed(image, 32, W) -> (1, 8, 49)\nexpected (1, N, D) = (1, 49, 8)" in caption(grid)


def test_one_patch_is_its_pixels_flattened_in_reading_order_then_projected():
    photo = sample_image(64)  # (1, 3, 64, 64): 4 x 4 patches of 16
    explorer = viz.patch_vector_explorer(photo, patch_size=16)
    fig = explorer.figures(index=6)[0]  # row 1, column 2
    flattened = torch.from_numpy(fig.axes[1].images[0].get_array().data[:, 0].copy())
    assert torch.equal(flattened, photo[0, :, 16:32, 32:48].reshape(-1))  # channel, then row, then column
    assert fig.axes[2].get_xlabel() == "= vector @ W"
    plt.close(fig)


def test_an_embedding_function_with_the_wrong_reading_order_is_told_so():
    def column_major(image, patch_size, weight):
        columns = torch.nn.functional.unfold(image, patch_size, stride=patch_size)  # (1, C*P*P, N)
        grid = image.shape[-1] // patch_size
        order = torch.arange(columns.shape[-1]).reshape(grid, grid).T.reshape(-1)  # top to bottom first
        return columns[..., order].mT @ weight  # (1, N, D)

    fig = viz.patch_vector_explorer(sample_image(64), patch_size=16, embed_fn=column_major).figures(index=1)[0]
    assert fig.axes[2].get_xlabel() == "≠ vector @ W"
    plt.close(fig)


def test_the_chosen_patch_frames_its_own_similarity_tile():
    explorer = viz.position_explorer(grid=(3, 4))
    for patch in (0, 6, 11):
        similarity = explorer.figures(patch=patch)[0]
        ax = similarity.axes[0]
        left, right, bottom, top = ax.images[patch].get_extent()  # tile `patch`, drawn in reading order
        frame = ax.patches[-1]
        assert (frame.get_x(), frame.get_y(), frame.get_width(), frame.get_height()) == pytest.approx(
            (left, top, right - left, bottom - top))
        assert f"patch {patch} (row {patch // 4}, column {patch % 4}) framed" in caption(similarity)


def test_the_position_table_is_resized_to_the_chosen_grid():
    table = torch.randn(1 + 16, 8)
    explorer = viz.position_explorer({"mine": table}, (4, 4), num_prefix_tokens=1, new_sizes=(3, 6))
    resized = explorer.figures(new_size=6)[1]
    assert [ax.get_title() for ax in resized.axes[4:]] == [f"channel {c}, 6x6" for c in (0, 1, 4, 5)]
    plt.close(resized)


def test_the_attention_panels_are_the_models_own_weights_for_the_chosen_query_and_layer():
    model = small_vit()
    images = torch.rand(3, 1, 8, 8)
    explorer = viz.attention_explorer(model, images)
    with torch.no_grad():
        _, attentions = model(images, return_attention=True)  # 2 x (3, h, 17, 17)
    heads, rollout = explorer.figures(image=2, layer=1, query=5)
    for head, ax in enumerate(heads.axes[:2]):
        shown = torch.from_numpy(ax.images[-1].get_array().data.copy())  # the map laid over the image
        assert torch.allclose(shown, attentions[0][2, head, 5, 1:].reshape(4, 4))
    assert "layer 1 of 2, query token 5 (patch 4)" in caption(heads)
    expected = interpret.cls_rollout_map([a[2:3] for a in attentions], (4, 4))[0]
    up = torch.nn.functional.interpolate(expected[None, None], size=(8, 8), mode="bilinear")[0, 0]  # (8, 8)
    overlay = torch.from_numpy(rollout.axes[1].images[-1].get_array().data.copy())  # the map over the digit
    assert torch.allclose(overlay, (up / up.max()).float())
    plt.close(rollout)


def test_the_attention_explorer_needs_a_cls_model():
    with pytest.raises(ValueError, match="CLS token"):
        viz.attention_explorer(small_vit(pool="mean"))


def test_the_mask_explorer_says_what_the_learners_mask_lets_a_token_see():
    def hides_the_diagonal(length):
        return torch.ones(length, length, dtype=torch.bool).tril(diagonal=-1)

    assert caption(viz.mask_explorer().figures(length=6, query=3)[0]) == "causal_mask(6): query 3 sees keys [0, 1, 2, 3]"
    wrong = viz.mask_explorer(mask_fn=hides_the_diagonal).figures(length=6, query=3)[0]
    assert caption(wrong) == "hides_the_diagonal(6): query 3 sees keys [0, 1, 2]; causal: keys 0 .. 3"


def test_the_projector_style_draws_larger_type():
    notebook = viz.mask_explorer().figures()[0]
    projected = viz.mask_explorer(style="projector").figures()[0]
    assert projected._supxlabel.get_fontsize() > 1.5 * notebook._supxlabel.get_fontsize()
    plt.close("all")
    with pytest.raises(ValueError, match="style must be one of"):
        viz.mask_explorer(style="poster")


@pytest.fixture
def in_a_kernel(monkeypatch):
    """As inside a Jupyter kernel that has ipywidgets (no frontend: widgets talk to a dummy comm)."""
    pytest.importorskip("ipywidgets")
    monkeypatch.setattr(explore, "_kernel_with_widgets", lambda: True)


def test_in_a_kernel_the_output_adds_the_live_view_and_keeps_the_static_picture(in_a_kernel):
    explorer = viz.mask_explorer()
    bundle = explorer._repr_mimebundle_()
    assert bundle[explore.WIDGET_VIEW]["model_id"] == explorer.widget().model_id
    assert bundle["image/png"] == explorer.png() and bundle["text/plain"] == explorer.note()


def test_the_live_picture_follows_its_controls_and_shows_the_learners_error(in_a_kernel):
    calls = []

    def fails_on_eight(length):
        calls.append(length)
        if length == 8:
            raise RuntimeError("my mask broke at 8")
        return torch.ones(length, length, dtype=torch.bool).tril()

    explorer = viz.mask_explorer(mask_fn=fails_on_eight)
    controls, status, picture = explorer.widget().children
    length, query = controls.children
    first = picture.value
    query.value = 4
    assert picture.value == explorer.png(query=4) != first and explorer.values["query"] == 4
    length.value = 8
    assert status.value == "<b>RuntimeError</b>: my mask broke at 8" and picture.value == explorer.png(length=6, query=4)
    length.value = 4
    assert status.value == "" and png_size(picture.value)[0] == explore.PIXEL_WIDTH
    assert 8 in calls


def test_show_outside_a_kernel_prints_the_note_and_draws_the_figures(capsys, monkeypatch):
    plt.close("all")
    shown = []
    monkeypatch.setattr(plt, "show", lambda: shown.append(len(plt.get_fignums())))
    viz.patch_explorer().show()
    assert capsys.readouterr().out.startswith("patch_explorer: live in JupyterLab") and shown == [2]
    plt.close("all")


def test_the_picture_stacks_the_figures_at_one_scale():
    explorer = viz.patch_explorer()
    decoded = plt.imread(io.BytesIO(explorer.png(patch_size=8)))  # (H, W, 4)
    sizes = [fig.get_size_inches() for fig in explorer.figures(patch_size=8)]  # the grid, the wider sequence
    assert sizes[0][0] < sizes[1][0]
    plt.close("all")
    scale = explore.PIXEL_WIDTH / max(width for width, _ in sizes)  # pixels per inch, for both
    assert decoded.shape[1] == explore.PIXEL_WIDTH
    assert decoded.shape[0] == pytest.approx(sum(height for _, height in sizes) * scale, abs=2)
    grid_width = sizes[0][0] * scale
    margin = int((explore.PIXEL_WIDTH - grid_width) / 2) - 2
    assert (decoded[: int(sizes[0][1] * scale), :margin] == 1).all()  # the narrower grid sits centred on white
