"""Accuracy on the bundled digits: choose the recipe on validation images, report on the test set once.

Two modes, one protocol (docs/results.md):

* selection (``--validation``): train on 1,149 of the 1,437 training images and score the 288
  validation images carved out of them (``vitlearn.data.digits(validation=0.2)``). The test images
  are never looked at. Every recipe choice (each ingredient of ``digits_recipe``, the peak learning
  rate, the hybrid's stem) is made this way; ``--set`` changes one ingredient.
* report (the default): train on all 1,437 training images and evaluate the 360 test images once,
  at the end of each run.

Each mode first prints the classical anchors (scikit-learn's ``SVC(gamma=0.001)`` and
``LogisticRegression`` on the raw pixels, scored the same way), then, for each of
``vitlearn.model.DIGITS_MODELS`` (the pure ViT, and the hybrid whose patches come from a 3x3
convolution), each training length and seed: the mean and min accuracy over the seeds and the
images right per seed; and the machine. Train by epochs (``--epochs``: the same result on a busy or
a quiet machine) or by wall-clock seconds (``--budgets``: what a minute buys on this machine).

    python benchmarks/train_digits.py --validation --epochs 100 --models hybrid              # choose (~2 min)
    python benchmarks/train_digits.py --validation --epochs 100 --models hybrid --set ema=0  # one ingredient off
    python benchmarks/train_digits.py --epochs 183 --models vit                              # report by epochs
    python benchmarks/train_digits.py --budgets 60 --seeds 0 1 2 3 4                         # the timed report (~11 min)
    python benchmarks/train_digits.py --budgets 2 --seeds 0                                  # a smoke test
    python benchmarks/train_digits.py --threads 2                                            # torch on two threads (default: one)
"""

from __future__ import annotations

import argparse
import time
from dataclasses import fields, replace
from typing import Any

import torch

from vitlearn.measure import machine

FIXED_BY_FLAGS = {"epochs": "--epochs", "budget": "--budgets", "seed": "--seeds", "device": "--device"}


def recipe_overrides(pairs: list[str]) -> dict[str, Any]:
    """``["label_smoothing=0", "ema=0"]`` -> ``{"label_smoothing": 0.0, "ema": 0.0}``: changes to
    ``digits_recipe``, each value converted to the type of the recipe's own value."""
    from vitlearn.train import TrainConfig, digits_recipe

    recipe, names = digits_recipe(), {field.name for field in fields(TrainConfig)}
    changes = {}
    for pair in pairs:
        name, equals, value = pair.partition("=")
        if not equals or name not in names:
            raise SystemExit(f"--set takes name=value with a TrainConfig field name ({', '.join(sorted(names))}), "
                             f"got {pair!r}")
        if name in FIXED_BY_FLAGS:
            raise SystemExit(f"--set {name}=... : use {FIXED_BY_FLAGS[name]} for {name}")
        changes[name] = type(getattr(recipe, name))(value)
    return changes


def held_out(split, validation: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """The images a mode scores: the validation part when choosing, the test set when reporting."""
    return (split.validation_images, split.validation_labels) if validation else (split.test_images, split.test_labels)


def anchors(split, validation: bool) -> dict[str, float]:
    """name -> accuracy on the held-out images of the classical models fitted on raw pixels (sklearn's 0..16 scale)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.svm import SVC

    images, labels = held_out(split, validation)
    results = {}
    for name, model in {"SVC(gamma=0.001)": SVC(gamma=0.001),
                        "LogisticRegression(max_iter=5000)": LogisticRegression(max_iter=5000)}.items():
        model.fit((split.train_images.flatten(1) * 16).numpy(), split.train_labels.numpy())
        results[name] = float((model.predict((images.flatten(1) * 16).numpy()) == labels.numpy()).mean())
    return results


def accuracies(split, architecture, config, seeds: list[int], validation: bool) -> tuple[list[float], list[int]]:
    """Train a fresh ``ViT(architecture)`` on ``split``'s training images per seed, then score the
    held-out images once, after training. Returns (accuracy per seed, epochs per seed)."""
    from vitlearn.model import ViT
    from vitlearn.train import evaluate, train

    scores, epochs = [], []
    for seed in seeds:
        torch.manual_seed(seed)
        model = ViT(architecture)
        history = train(model, split.train_images, split.train_labels, replace(config, seed=seed))
        scores.append(evaluate(model, *held_out(split, validation)))
        epochs.append(len(history.epoch_loss))
    return scores, epochs


def deit_accuracies(split, limit: dict[str, Any], changes: dict[str, Any], seeds: list[int], device: str,
                    validation: bool) -> tuple[list[float], list[int]]:
    """``accuracies`` for DeiT (chapter 08) on its own recipe (``digits_distillation_recipe``, ``changes``
    applied to the student): per seed the CNN teacher, then the student it teaches, the teacher's
    seconds counted in the budget, as ``vitlearn train --model deit`` does."""
    from vitlearn.distill import digits_distillation_recipe, digits_teacher, train_deit
    from vitlearn.model import DIGITS_DEIT, ViT
    from vitlearn.train import evaluate

    scores, epochs = [], []
    for seed in seeds:
        torch.manual_seed(seed)
        teacher = digits_teacher()
        torch.manual_seed(seed)
        student = ViT(DIGITS_DEIT)
        recipe = digits_distillation_recipe(**limit, seed=seed, device=device, **changes)
        _, history = train_deit(student, teacher, split.train_images, split.train_labels, recipe)
        scores.append(evaluate(student, *held_out(split, validation)))
        epochs.append(len(history.epoch_loss))
    return scores, epochs


def row(label: str, length: str, scores: list[float], size: int, epochs: str = "") -> str:
    """One table line: mean and min accuracy over the seeds, epochs, and the images right per seed."""
    right = " ".join(str(round(score * size)) for score in scores)
    return (f"{label:<44}{length:>8}{100 * sum(scores) / len(scores):>9.2f}%{100 * min(scores):>8.2f}%"
            f"{epochs:>8}  {right} /{size}")


def describe(config) -> str:
    """A ``TrainConfig``'s recipe in one line."""
    return (f"AdamW lr {config.lr:g}, weight decay {config.weight_decay:g}, batch {config.batch_size}, "
            f"warm-up {config.warmup_fraction:g}, label smoothing {config.label_smoothing:g}, EMA {config.ema:g}, "
            f"shift {config.shift:g}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--validation", action="store_true",
                        help="selection mode: train on 1,149 images, score the 288 validation images (never the test set)")
    length = parser.add_mutually_exclusive_group()
    length.add_argument("--budgets", type=float, nargs="+", help="training seconds (default: 15 30 60)")
    length.add_argument("--epochs", type=int, nargs="+", help="train by epochs instead of seconds")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--set", dest="changes", nargs="+", default=[], metavar="NAME=VALUE",
                        help="change the recipe, e.g. --set label_smoothing=0 ema=0 (TrainConfig fields)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--models", nargs="+", choices=["vit", "hybrid", "deit"], default=["vit", "hybrid"],
                        help="deit: the pure ViT taught by a small CNN (chapter 08), the teacher's time counted")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads (default 1: tokens this small gain nothing from more, and lose much on busy cores)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    from vitlearn.data import VALIDATION_FRACTION, digits
    from vitlearn.distill import digits_distillation_recipe
    from vitlearn.model import DIGITS_DEIT, DIGITS_MODELS
    from vitlearn.train import digits_recipe

    changes = recipe_overrides(args.changes)
    lengths = ([dict(epochs=e, budget=None) for e in args.epochs] if args.epochs else
               [dict(epochs=None, budget=b) for b in args.budgets or [15, 30, 60]])
    split = digits(validation=VALIDATION_FRACTION) if args.validation else digits()
    size = len(held_out(split, args.validation)[1])
    scored = "validation" if args.validation else "test"
    print(machine())
    print(f"{'selection' if args.validation else 'report'} mode: train on {len(split.train_labels)} images, "
          f"score {size} {scored} images once, after training")
    print(f"{'model':<44}{'length':>8}{'mean':>10}{'min':>9}{'epochs':>8}  right per seed ({scored})")
    for name, accuracy in anchors(split, args.validation).items():
        print(row(name, "", [accuracy], size), flush=True)
    recipe = digits_recipe(device=args.device, **changes)
    changed = f" (changed: {' '.join(args.changes)})" if changes else ""
    if set(args.models) - {"deit"}:
        print(f"recipe: {describe(recipe)}{changed}", flush=True)
    if "deit" in args.models:
        deit = digits_distillation_recipe(device=args.device, **changes)
        print(f"deit: teacher {describe(deit.teacher)}, {deit.teacher.epochs} epochs; student {describe(deit.student)}"
              f"{changed}; soft distillation, temperature {deit.temperature:g}", flush=True)
    for name in args.models:
        architecture = DIGITS_DEIT if name == "deit" else DIGITS_MODELS[name]
        stem = f" stem {architecture.stem_channels}" if architecture.stem_channels else ""
        label = f"ViT {name}: p{architecture.patch_size} d{architecture.dim} L{architecture.depth}{stem}"
        for limit in lengths:
            start = time.perf_counter()
            if name == "deit":  # its own recipe (chapter 08); --set changes the student's
                scores, epochs = deit_accuracies(split, limit, changes, args.seeds, args.device, args.validation)
            else:
                scores, epochs = accuracies(split, architecture, replace(recipe, **limit), args.seeds, args.validation)
            length_text = f"{limit['epochs']} ep" if limit["epochs"] else f"{limit['budget']:.0f} s"
            print(row(label, length_text, scores, size, f"{sum(epochs) / len(epochs):.0f}")
                  + f"  ({time.perf_counter() - start:.0f} s)", flush=True)
    print(f"seeds {args.seeds}; a budget is training wall-clock seconds (evaluation excluded); device {args.device}")


if __name__ == "__main__":
    main()
