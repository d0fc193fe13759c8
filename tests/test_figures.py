"""``vitlearn figures``: every figure of the course, one file each at the style's size, and the PDF
handout with one page per figure; nothing cut off in projector style; a bad checkpoint is refused."""

import re
import subprocess
import sys

import matplotlib.pyplot as plt
import pytest
import torch

from vitlearn import cli, figures, viz
from vitlearn.data import digits
from vitlearn.model import ViT
from vitlearn.train import DIGITS_HYBRID, DIGITS_MODEL, TrainConfig, save_checkpoint, train

WITHOUT_CHECKPOINT = ["00_transformer_blocks", "00_attention_masks", "00_attention_cost", "01_patch_grid",
                      "01_patch_sequence", "02_weight_to_kernel", "04_shuffled_patches", "04_cls_and_positions",
                      "04_sincos_similarity", "04_position_interpolation", "05_encoder_blocks", "07_shifted_digit",
                      "08_distillation_token"]
FROM_CHECKPOINT = ["06_forward_pass", "07_training_curves", "07_attention_heads", "07_attention_rollout",
                   "07_position_similarity", "07_embedding_filters", "07_attention_distance"]
EVERY_FIGURE = [*WITHOUT_CHECKPOINT[:-2], "06_forward_pass", "07_shifted_digit", *FROM_CHECKPOINT[1:],
                "08_distillation_token"]  # chapter order


def pages(pdf) -> int:
    """The number of pages of a PDF file: its ``/Type /Page`` objects (not ``/Pages``)."""
    return len(re.findall(rb"/Type\s*/Page\b", pdf.read_bytes()))


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A digits ViT trained for one epoch on 256 images, saved with its history as ``vitlearn train`` saves it."""
    torch.manual_seed(0)
    split = digits()
    model = ViT(**DIGITS_MODEL)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny matrices: more threads only add waiting
    try:
        history = train(model, split.train_images[:256], split.train_labels[:256], TrainConfig(epochs=1, device="cpu"),
                        evaluation=(split.test_images, split.test_labels))
    finally:
        torch.set_num_threads(threads)
    return save_checkpoint(model, tmp_path_factory.mktemp("run") / "model.pt",
                           test_accuracy=history.evaluation_accuracy[-1], history=history.to_dict())


@pytest.fixture(scope="module", params=["notebook", "projector"])
def rendered(request, checkpoint, tmp_path_factory):
    """``vitlearn figures --style STYLE --checkpoint ...`` run once per style: (style, output folder).
    The notebook style runs as the installed command does, in a fresh process."""
    out = tmp_path_factory.mktemp(request.param)
    arguments = ["figures", "--out", str(out), "--style", request.param, "--checkpoint", str(checkpoint)]
    if request.param == "notebook":
        done = subprocess.run([sys.executable, "-m", "vitlearn", *arguments], capture_output=True, text=True,
                              timeout=300)
        assert done.returncode == 0 and not done.stderr, done.stderr
        assert f"{len(EVERY_FIGURE)} figures (png, 1200 px wide, notebook style)" in done.stdout
    else:
        assert cli.main(arguments) == 0
    return request.param, out


def test_the_figure_set_is_in_chapter_order(checkpoint):
    assert list(figures.course_figures()) == WITHOUT_CHECKPOINT
    assert list(figures.course_figures(checkpoint)) == EVERY_FIGURE


def test_writes_every_figure_and_the_handout(rendered):
    _, out = rendered
    assert sorted(path.name for path in out.iterdir()) == sorted([f"{name}.png" for name in EVERY_FIGURE]
                                                                 + ["course_figures.pdf"])


def test_every_png_is_non_blank_at_the_style_width(rendered):
    style, out = rendered
    for name in EVERY_FIGURE:
        rgba = plt.imread(out / f"{name}.png")  # (H, W, 4) in [0, 1]
        assert rgba.shape[1] == figures.PIXEL_WIDTH[style], name
        assert rgba[..., :3].std() > 0.05, f"{name} is blank"


def test_the_handout_has_one_page_per_figure(rendered):
    assert pages(rendered[1] / "course_figures.pdf") == len(EVERY_FIGURE)


def test_styles_are_the_viz_styles():
    assert set(figures.PIXEL_WIDTH) == set(viz.STYLES)


def _drawn_texts(fig) -> list:
    """The texts a reader sees: titles, labels, the tick labels inside the view, annotations, legends."""
    texts = [text for figure in (fig, *fig.subfigs) for text in figure.texts]
    for ax in fig.axes:
        texts += [ax.title, *ax.texts, *(ax.get_legend().get_texts() if ax.get_legend() else [])]
        if ax.axison:
            texts += [ax.xaxis.label, ax.yaxis.label]
            for axis in (ax.xaxis, ax.yaxis):
                low, high = sorted(axis.get_view_interval())
                texts += [label for where, label in zip(axis.get_majorticklocs(), axis.get_majorticklabels())
                          if low <= where <= high]
    return [text for text in texts if text.get_visible() and text.get_text().strip()]


def test_no_text_is_cut_off_in_projector_style(checkpoint):
    for name, draw in figures.course_figures(checkpoint).items():
        fig = draw(style="projector")
        fig.draw_without_rendering()
        frame = fig.bbox.padded(1)  # a pixel of rounding
        cut = [text.get_text() for text in _drawn_texts(fig)
               if not frame.contains(*text.get_window_extent().p0) or not frame.contains(*text.get_window_extent().p1)]
        plt.close(fig)
        assert not cut, f"{name}: {cut}"


@pytest.mark.parametrize("fmt, magic", [("svg", b"<?xml"), ("pdf", b"%PDF")])
def test_vector_formats(tmp_path, fmt, magic):
    some = {name: draw for name, draw in figures.course_figures().items() if name.startswith("01_")}
    paths = figures.write_figures(some, tmp_path, style="projector", fmt=fmt)
    assert [path.name for path in paths] == [f"01_patch_grid.{fmt}", f"01_patch_sequence.{fmt}", "course_figures.pdf"]
    assert all(path.read_bytes().startswith(magic) for path in paths[:-1])
    assert pages(paths[-1]) == 2


def test_dpi_replaces_the_fixed_width(tmp_path):
    grid = {"01_patch_grid": figures.course_figures()["01_patch_grid"]}
    path = figures.write_figures(grid, tmp_path, dpi=40)[0]
    assert plt.imread(path).shape[1] == 7 * 40  # the figure is 7 inches wide


def test_the_command_module_is_light_at_import():
    code = "import sys, vitlearn.figures; print('torch' in sys.modules, 'matplotlib' in sys.modules)"
    light = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert light.stdout.split() == ["False", "False"]


def _not_digits(path):
    save_checkpoint(ViT(image_size=16, patch_size=4, in_channels=3), path)


@pytest.mark.parametrize("make, message", [
    (lambda path: None, "no checkpoint file at"),
    (lambda path: path.write_text("not a checkpoint"), "cannot load .* as a vitlearn checkpoint"),
    (lambda path: torch.save({"weights": torch.zeros(2)}, path), "is not a vitlearn checkpoint"),
    (_not_digits, "3-channel 16x16 images .* trained on the digits"),
])
def test_a_bad_checkpoint_exits_2_with_one_line(tmp_path, capsys, make, message):
    checkpoint = tmp_path / "model.pt"
    make(checkpoint)
    assert cli.main(["figures", "--out", str(tmp_path / "out"), "--checkpoint", str(checkpoint)]) == 2
    error = capsys.readouterr().err
    assert error.startswith("vitlearn figures: ") and error.count("\n") == 1
    assert re.search(message, error), error
    assert not (tmp_path / "out").exists()  # refused before anything was written


def test_a_bad_style_or_dpi_is_refused_by_the_parser(tmp_path, capsys):
    for option in (["--style", "poster"], ["--dpi", "0"]):
        with pytest.raises(SystemExit) as exit_:
            cli.main(["figures", "--out", str(tmp_path), *option])
        assert exit_.value.code == 2
    assert "invalid choice: 'poster'" in capsys.readouterr().err
    with pytest.raises(ValueError, match="style must be one of"):
        figures.write_figures({}, tmp_path, style="poster")


def test_a_hybrid_checkpoint_gets_the_same_figures_with_its_stem_filters(tmp_path):
    torch.manual_seed(0)
    hybrid = ViT(**DIGITS_HYBRID)  # what `vitlearn train` saves by default
    path = save_checkpoint(hybrid, tmp_path / "hybrid.pt")
    drawn = figures.course_figures(path)
    assert list(drawn) == [name for name in EVERY_FIGURE if name != "07_training_curves"]  # no history saved
    fig = drawn["07_embedding_filters"]()
    assert "stem" in fig.get_suptitle() and sum(ax.get_title().startswith("PC") for ax in fig.axes) == 8
    assert drawn["07_attention_rollout"]().axes
    plt.close("all")
