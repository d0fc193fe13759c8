"""Test accuracy on the bundled digits: the classical anchors, then vitlearn's ViT under wall-clock budgets.

The fixed stratified 80/20 split of ``vitlearn.data.digits()`` (360 test images). First
scikit-learn's ``SVC(gamma=0.001)`` and ``LogisticRegression`` on the raw pixels, then each of
``vitlearn.model.DIGITS_MODELS`` (the pure ViT, and the hybrid whose patches come from a 3x3
convolution) with the default recipe (``digits_recipe``) for each budget and seed; a table of
mean and min test accuracy over the seeds, and the machine.

    python benchmarks/train_digits.py                                  # budgets 15 30 60 s, seeds 0 1 2 (~11 min)
    python benchmarks/train_digits.py --models hybrid --budgets 60     # one model, one budget (~3 min)
    python benchmarks/train_digits.py --budgets 2 --seeds 0            # a smoke test
    python benchmarks/train_digits.py --threads 2                      # torch on two threads (default: one)
"""

from __future__ import annotations

import argparse
import time

import torch

from vitlearn.measure import machine


def anchors(split) -> dict[str, tuple[float, float]]:
    """name -> (test accuracy, fit seconds) of the classical models on raw pixels (sklearn's 0..16 scale)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.svm import SVC

    train_x, test_x = (split.train_images.flatten(1) * 16).numpy(), (split.test_images.flatten(1) * 16).numpy()
    results = {}
    for name, model in {"SVC(gamma=0.001)": SVC(gamma=0.001),
                        "LogisticRegression(max_iter=5000)": LogisticRegression(max_iter=5000)}.items():
        start = time.perf_counter()
        model.fit(train_x, split.train_labels.numpy())
        seconds = time.perf_counter() - start
        results[name] = (float((model.predict(test_x) == split.test_labels.numpy()).mean()), seconds)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--budgets", type=float, nargs="+", default=[15, 30, 60], help="training seconds")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--models", nargs="+", choices=["vit", "hybrid"], default=["vit", "hybrid"])
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads (default 1: tokens this small gain nothing from more, and lose much on busy cores)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    from vitlearn.data import digits
    from vitlearn.model import DIGITS_MODELS, ViT
    from vitlearn.train import digits_recipe, train

    split = digits()
    print(machine())
    print(f"{'model':<44}{'budget':>8}{'mean acc':>10}{'min acc':>9}{'epochs':>8}  per seed")
    for name, (accuracy, seconds) in anchors(split).items():
        print(f"{name:<44}{seconds:>7.1f}s{100 * accuracy:>9.2f}%{100 * accuracy:>8.2f}%{'':>8}  "
              f"{round(accuracy * len(split.test_labels))}/{len(split.test_labels)}", flush=True)
    recipe = digits_recipe(device=args.device)
    print(f"recipe: AdamW lr {recipe.lr:g}, weight decay {recipe.weight_decay:g}, batch {recipe.batch_size}, "
          f"label smoothing {recipe.label_smoothing:g}, EMA {recipe.ema:g}, shift {recipe.shift}", flush=True)
    for name in args.models:
        architecture = DIGITS_MODELS[name]
        stem = f" stem {architecture.stem_channels}" if architecture.stem_channels else ""
        label = f"ViT {name}: p{architecture.patch_size} d{architecture.dim} L{architecture.depth}{stem}"
        for budget in args.budgets:
            accuracies, epochs = [], []
            for seed in args.seeds:
                torch.manual_seed(seed)
                model = ViT(architecture)
                history = train(model, split.train_images, split.train_labels,
                                digits_recipe(budget=budget, seed=seed, device=args.device),
                                test=(split.test_images, split.test_labels))
                accuracies.append(history.test_accuracy[-1])
                epochs.append(len(history.epoch_loss))
            per_seed = " ".join(f"{round(a * len(split.test_labels))}" for a in accuracies)
            print(f"{label:<44}{budget:>7.0f}s{100 * sum(accuracies) / len(accuracies):>9.2f}%"
                  f"{100 * min(accuracies):>8.2f}%{sum(epochs) / len(epochs):>8.0f}  {per_seed} /{len(split.test_labels)}",
                  flush=True)
    print(f"seeds {args.seeds}; budget = training wall-clock seconds (evaluation excluded); device {args.device}")


if __name__ == "__main__":
    main()
