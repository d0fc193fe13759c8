"""Chapter 07's training loop: budgets, augmentation, weight averaging, the progress bar, devices,
checkpoints, and a loader for a user's own tensors."""

import io
import json

import pytest
import torch

from vitlearn.data import TensorLoader, digits, random_shift, translate
from vitlearn.model import ViT
from vitlearn.train import (
    History,
    TrainConfig,
    evaluate,
    learning_rate_by_clock,
    load_checkpoint,
    predict,
    read_checkpoint,
    resolve_device,
    save_checkpoint,
    train,
)


def _model(seed=0, **changes):
    torch.manual_seed(seed)
    return ViT(**{**dict(image_size=8, patch_size=4, in_channels=1, dim=32, depth=1, num_heads=2), **changes})


@pytest.fixture(scope="module")
def split():
    return digits()


def test_time_schedule_warms_up_then_decays_to_zero():
    rates = [learning_rate_by_clock(p / 100, 1.0, 0.1) for p in range(101)]
    assert rates[5] == pytest.approx(0.5) and rates[10] == pytest.approx(1.0) and rates[100] == pytest.approx(0)
    assert all(a >= b for a, b in zip(rates[10:], rates[11:]))


def test_a_time_budget_stops_training_on_time(split):
    history = train(_model(), split.train_images, split.train_labels, TrainConfig(epochs=None, budget=2.0, device="cpu"),
                    evaluation=(split.test_images[:64], split.test_labels[:64]))
    assert 2.0 <= history.seconds < 3.0  # the step that crosses the budget is the last one
    assert len(history.step_loss) == len(history.step_lr) > 0
    assert len(history.evaluation_accuracy) == len(history.epoch_loss)
    assert len(history.step_lr) >= 3 and history.step_lr[-1] < 0.5 * max(history.step_lr)  # the cosine ran down


def test_augmented_ema_training_with_smoothing_learns_and_is_reproducible(split):
    config = TrainConfig(epochs=3, shift=0.5, label_smoothing=0.1, ema=0.9, device="cpu", seed=3)
    runs = []
    for _ in range(2):
        model = _model(3)
        history = train(model, split.train_images[:512], split.train_labels[:512], config,
                        evaluation=(split.test_images, split.test_labels))
        runs.append((history.step_loss, history.evaluation_accuracy, model.head.weight.detach().clone()))
    assert runs[0][0] == runs[1][0] and runs[0][1] == runs[1][1] and torch.equal(runs[0][2], runs[1][2])
    assert history.epoch_loss[-1] < history.epoch_loss[0] and len(history.train_accuracy) == 3
    assert evaluate(model, split.test_images, split.test_labels) == history.evaluation_accuracy[-1]  # the averaged weights


def test_translate_by_whole_pixels_moves_the_pixels_exactly():
    images = torch.rand(3, 2, 5, 6, dtype=torch.float64)
    offsets = torch.tensor([[1.0, 0.0], [0.0, -2.0], [-1.0, 3.0]], dtype=torch.float64)  # (down, right)
    expected = torch.zeros_like(images)
    expected[0, :, 1:, :] = images[0, :, :-1, :]
    expected[1, :, :, :-2] = images[1, :, :, 2:]
    expected[2, :, :-1, 3:] = images[2, :, 1:, :-3]
    moved = translate(images, offsets)
    assert moved.dtype == torch.float64 and torch.allclose(moved, expected, atol=1e-12)


def test_translate_by_half_a_pixel_averages_neighbours():
    images = torch.rand(2, 1, 4, 4, dtype=torch.float64)
    half_right = translate(images, torch.tensor([[0.0, 0.5]] * 2, dtype=torch.float64))
    one_right = translate(images, torch.tensor([[0.0, 1.0]] * 2, dtype=torch.float64))
    assert torch.allclose(half_right, (images + one_right) / 2, atol=1e-12)


def test_translate_says_what_it_expected():
    with pytest.raises(ValueError, match=r"offsets must have shape \(B, 2\) = \(3, 2\)"):
        translate(torch.rand(3, 1, 8, 8), torch.zeros(2, 2))
    with pytest.raises(ValueError, match=r"images must be 4-D"):
        translate(torch.rand(1, 8, 8), torch.zeros(1, 2))
    with pytest.raises(TypeError, match="offsets must be a floating-point tensor"):
        translate(torch.rand(3, 1, 8, 8), torch.zeros(3, 2, dtype=torch.int64))


def test_random_shift_moves_each_image_by_at_most_the_shift():
    images = torch.zeros(400, 1, 8, 8)
    images[:, :, 3, 4] = 1.0  # one lit pixel
    moved = random_shift(images, 0.5, torch.Generator().manual_seed(0))
    rows, cols = torch.arange(8.0).view(1, 8, 1), torch.arange(8.0).view(1, 1, 8)
    mass = moved[:, 0]  # (B, 8, 8): bilinear resampling spreads the pixel, keeps its mass
    centre_row, centre_col = (mass * rows).sum((1, 2)) - 3, (mass * cols).sum((1, 2)) - 4
    assert moved.shape == images.shape and torch.allclose(mass.sum((1, 2)), torch.ones(400))
    assert centre_row.abs().max() <= 0.5 + 1e-6 and centre_col.abs().max() <= 0.5 + 1e-6
    assert centre_row.min() < -0.4 and centre_row.max() > 0.4 and centre_col.std() > 0.2  # spread over the range
    again = random_shift(images, 0.5, torch.Generator().manual_seed(0))
    assert torch.equal(moved, again) and random_shift(images, 0) is images


def test_loader_takes_your_own_tensors_and_checks_them():
    images, labels = torch.rand(10, 3, 4, 4), torch.arange(10) % 3
    loader = TensorLoader(images, labels, batch_size=4, seed=0)
    batches = list(loader)
    assert len(loader) == len(batches) == 3 and [len(b[1]) for b in batches] == [4, 4, 2]
    assert sorted(torch.cat([b[1] for b in batches]).tolist()) == sorted(labels.tolist())
    assert [b[1].tolist() for b in TensorLoader(images, labels, 4, shuffle=False)][0] == labels[:4].tolist()
    with pytest.raises(TypeError, match="int64"):
        TensorLoader(images, labels.float())
    with pytest.raises(ValueError, match="as many labels as images"):
        TensorLoader(images, labels[:5])
    model = _model(0, image_size=4, patch_size=2, in_channels=3, num_classes=3)
    history = train(model, images, labels, TrainConfig(epochs=2, batch_size=4, device="cpu"), evaluation=(images, labels))
    assert len(history.step_loss) == 6


def test_progress_bar_writes_loss_and_accuracy_where_asked(split, capsys):
    bar = io.StringIO()
    train(_model(), split.train_images[:128], split.train_labels[:128], TrainConfig(epochs=2, device="cpu"),
          evaluation=(split.test_images[:64], split.test_labels[:64]), progress=bar)
    text = bar.getvalue()
    assert "loss=" in text and "evaluation=" in text and "100%" in text
    assert capsys.readouterr().err == ""  # nothing on stderr unless progress=True


def test_device_auto_picks_cuda_only_when_there_is_one(split):
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_device("cpu") == torch.device("cpu")
    model = _model()
    history = train(model, split.train_images[:64], split.train_labels[:64], TrainConfig(epochs=1))  # device="auto"
    assert history.device == str(resolve_device("auto")) and next(model.parameters()).device.type == resolve_device().type
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA device"):
            resolve_device("cuda")


def test_bad_configs_are_refused():
    with pytest.raises(ValueError, match="epochs, a time budget"):
        TrainConfig(epochs=None)
    with pytest.raises(ValueError, match="budget"):
        TrainConfig(budget=0)
    with pytest.raises(ValueError, match="shift must be a number of pixels >= 0"):
        TrainConfig(shift=-0.5)


def test_checkpoint_round_trip(split, tmp_path):
    model = _model(1, pool="cls", pos="learned")
    history = train(model, split.train_images[:256], split.train_labels[:256], TrainConfig(epochs=2, device="cpu"),
                    evaluation=(split.test_images, split.test_labels))
    path = save_checkpoint(model, tmp_path / "sub" / "model.pt", history=history.to_dict(), note="tiny")
    loaded = load_checkpoint(path)
    assert isinstance(loaded, ViT) and not loaded.training and loaded.config == model.config
    assert torch.equal(predict(loaded, split.test_images), predict(model, split.test_images))
    assert loaded.checkpoint_metadata["note"] == "tiny"
    assert loaded.checkpoint_metadata["history"]["evaluation_accuracy"] == history.evaluation_accuracy
    json.dumps(loaded.checkpoint_metadata)  # plain values only
    assert read_checkpoint(path)["config"]["image_size"] == (8, 8)
    old = read_checkpoint(path)
    old["config"] = {**old["config"], "mlp_dim": 4 * model.config.dim}  # as checkpoints before ViTConfig stored it
    torch.save(old, tmp_path / "old.pt")
    assert torch.equal(predict(load_checkpoint(tmp_path / "old.pt"), split.test_images), predict(model, split.test_images))
    torch.save({"something": 1}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not a vitlearn checkpoint"):
        load_checkpoint(tmp_path / "other.pt")


def test_history_to_dict_is_json_ready():
    history = History(step_loss=[1.0], epoch_loss=[1.0], evaluation_accuracy=[0.5], epoch_seconds=[2.0])
    assert json.loads(json.dumps(history.to_dict()))["seconds"] == 2.0


def test_evaluation_scores_the_pair_it_is_given_after_every_epoch():
    config = TrainConfig(epochs=2, device="cpu")
    validation = digits(validation=0.2)
    pair = (validation.validation_images, validation.validation_labels)
    history = train(_model(), validation.train_images[:256], validation.train_labels[:256], config, evaluation=pair)
    assert len(history.evaluation_accuracy) == 2
    model = _model()
    train(model, validation.train_images[:256], validation.train_labels[:256], config)
    assert evaluate(model, *pair) == history.evaluation_accuracy[-1]  # the same run, scored on the pair it was given


def test_progress_bar_under_a_budget_counts_seconds(split):
    bar = io.StringIO()
    train(_model(), split.train_images[:128], split.train_labels[:128],
          TrainConfig(epochs=None, budget=1.5, device="cpu"), progress=bar)
    last = bar.getvalue().split("\r")[-1]
    assert "100%" in last and "/2 s" in last and "loss=" in last


def test_epoch_schedule_changes_the_rate_every_step(split):
    history = train(_model(), split.train_images[:256], split.train_labels[:256], TrainConfig(epochs=2, device="cpu"))
    rates = history.step_lr
    assert len(rates) == 8 and all(a > b for a, b in zip(rates[1:], rates[2:]))  # the cosine falls every step
