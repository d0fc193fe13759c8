"""benchmarks/train_digits.py keeps the protocol: choosing never looks at the test images, and a
reported configuration looks at them once per run, after training."""

import importlib.util
from pathlib import Path

import pytest

import vitlearn.train
from vitlearn.data import digits
from vitlearn.model import ViTConfig
from vitlearn.train import TrainConfig

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "train_digits.py"
TINY = ViTConfig(image_size=8, patch_size=4, in_channels=1, num_classes=10, dim=16, depth=1, num_heads=2)


@pytest.fixture(scope="module")
def benchmark():
    spec = importlib.util.spec_from_file_location("train_digits", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Untouchable:
    """Stands in for the test images: any use of it fails the test."""

    def __getattr__(self, name):
        raise AssertionError(f"the test set was touched ({name})")

    def __len__(self):
        raise AssertionError("the test set was touched (len)")

    def __getitem__(self, index):
        raise AssertionError("the test set was touched (indexing)")

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        raise AssertionError(f"the test set was touched ({func.__name__})")


def test_selection_never_touches_the_test_images(benchmark):
    real = digits(validation=0.2)
    sealed = real._replace(train_images=real.train_images[:128], train_labels=real.train_labels[:128],
                           test_images=Untouchable(), test_labels=Untouchable())
    with pytest.raises(AssertionError, match="test set was touched"):  # the stand-in does catch a use
        benchmark.anchors(sealed, validation=False)
    scores, epochs = benchmark.accuracies(sealed, TINY, TrainConfig(epochs=1, device="cpu"), [0, 1], validation=True)
    assert len(scores) == 2 and epochs == [1, 1]
    assert all(round(score * 288) == score * 288 for score in scores)  # fractions of the 288 validation images
    assert set(benchmark.anchors(sealed, validation=True)) == {"SVC(gamma=0.001)", "LogisticRegression(max_iter=5000)"}


def test_report_evaluates_the_test_images_once_per_run_after_training(benchmark, monkeypatch):
    split = digits()
    split = split._replace(train_images=split.train_images[:128], train_labels=split.train_labels[:128])
    calls, real_evaluate, real_train = [], vitlearn.train.evaluate, vitlearn.train.train

    def counting_evaluate(model, images, labels, batch_size=512):
        calls.append(("evaluate", images is split.test_images and labels is split.test_labels))
        return real_evaluate(model, images, labels, batch_size)

    def recording_train(*args, **kwargs):
        calls.append(("train", "evaluation" in kwargs or "test" in kwargs or len(args) > 4))
        return real_train(*args, **kwargs)

    monkeypatch.setattr(vitlearn.train, "evaluate", counting_evaluate)
    monkeypatch.setattr(vitlearn.train, "train", recording_train)
    scores, _ = benchmark.accuracies(split, TINY, TrainConfig(epochs=1, device="cpu"), [0, 1, 2], validation=False)
    assert calls == [("train", False), ("evaluate", True)] * 3  # no per-epoch curve: one look, after training
    assert all(round(score * 360) == score * 360 for score in scores)


def test_recipe_overrides_are_typed_like_the_recipe_and_checked(benchmark):
    assert benchmark.recipe_overrides(["label_smoothing=0", "ema=0", "batch_size=32"]) == {
        "label_smoothing": 0.0, "ema": 0.0, "batch_size": 32}
    assert isinstance(benchmark.recipe_overrides(["batch_size=32"])["batch_size"], int)
    with pytest.raises(SystemExit, match="TrainConfig field"):
        benchmark.recipe_overrides(["smoothing=0"])
    with pytest.raises(SystemExit, match="use --epochs"):
        benchmark.recipe_overrides(["epochs=3"])


def test_rows_say_how_many_images_each_seed_got_right(benchmark):
    line = benchmark.row("ViT", "100 ep", [286 / 288, 284 / 288], 288, "100")
    assert "98.96%" in line and "98.61%" in line and line.endswith("286 284 /288")  # mean, min, per seed
