"""``vitlearn train``: registered lazily, trains on the digits, writes checkpoint, metrics and curves."""

import json
import subprocess
import sys

import torch

from vitlearn import cli
from vitlearn.train import load_checkpoint


def test_train_command_is_light_to_import():
    code = "import sys, vitlearn.train_command; print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"


def test_train_command_writes_a_checkpoint_metrics_and_figures(tmp_path, capsys):
    out = tmp_path / "run"
    assert cli.main(["train", "--out", str(out), "--epochs", "2", "--quiet", "--device", "cpu"]) == 0
    printed = capsys.readouterr().out
    assert "test accuracy" in printed and "SVC(gamma=0.001) 98.89 %" in printed
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["epochs"] == 2 and 0 <= metrics["test_accuracy"] <= 1 and metrics["test_size"] == 360
    model = load_checkpoint(out / "model.pt")
    assert model.config["patch_size"] == 4 and model.checkpoint_metadata["test_accuracy"] == metrics["test_accuracy"]
    assert model.config["stem_channels"] == 32 and metrics["recipe"]["model"]["stem_channels"] == 32  # the hybrid
    from vitlearn.data import digits
    split = digits()
    with torch.no_grad():
        accuracy = (model(split.test_images).argmax(-1) == split.test_labels).float().mean().item()
    assert accuracy == metrics["test_accuracy"]
    assert (out / "curves.png").stat().st_size > 10_000 and (out / "misclassified.png").stat().st_size > 5_000


def test_train_command_trains_the_pure_vit_on_request(tmp_path, capsys):
    out = tmp_path / "pure"
    assert cli.main(["train", "--out", str(out), "--epochs", "1", "--quiet", "--device", "cpu", "--model", "vit"]) == 0
    assert "test accuracy" in capsys.readouterr().out
    model = load_checkpoint(out / "model.pt")
    assert model.stem is None and model.config["stem_channels"] == 0
