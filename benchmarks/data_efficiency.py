"""Inductive bias and data: a small CNN and a ViT trained on 10 %, 30 % and 100 % of the digits.

Chapter 00's experiment (``vitlearn.anatomy.data_efficiency`` with ``inductive_bias_models()``) with
a larger budget and several seeds. Every run takes about the same number of optimizer steps (AdamW,
peak lr 3e-3, warm-up + cosine, batch 64), whatever the fraction; the subsets are stratified and
seeded (seed s draws subset s). Prints the test accuracy on the fixed 360-image test split: mean,
min and max over the seeds, and each seed's count of correct images; then the machine.

    python benchmarks/data_efficiency.py                                   # 1000 steps, seeds 0-4 (~15 min)
    python benchmarks/data_efficiency.py --steps 300 --seeds 0             # the chapter's budget, one seed
    python benchmarks/data_efficiency.py --fractions 0.05 0.1 0.2 0.5 1    # a finer curve
"""

from __future__ import annotations

import argparse
import time

import torch

from vitlearn.measure import machine


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fractions", type=float, nargs="+", default=[0.1, 0.3, 1.0])
    parser.add_argument("--steps", type=int, default=1000, help="optimizer steps per run (whole epochs)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1: fastest for these sizes)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    from vitlearn.anatomy import data_efficiency, inductive_bias_models
    from vitlearn.data import digits
    from vitlearn.train import TrainConfig

    split = digits()
    models = inductive_bias_models()
    for name, build in models.items():
        print(f"{name}: {sum(p.numel() for p in build().parameters()):,} parameters")
    start = time.perf_counter()
    runs = [data_efficiency(models, split, args.fractions, args.steps, seed, TrainConfig(device=args.device))
            for seed in args.seeds]
    seconds = time.perf_counter() - start
    tested = len(split.test_labels)
    print(f"{'model':<12}{'fraction':>9}{'images':>8}{'mean acc':>10}{'min':>8}{'max':>8}  correct per seed /{tested}")
    for name in models:
        for fraction in args.fractions:
            accuracies = [run[name][fraction] for run in runs]
            images = int(fraction * len(split.train_labels))  # the subset's size (scikit-learn rounds down)
            print(f"{name:<12}{100 * fraction:>8.0f}%{images:>8}{100 * sum(accuracies) / len(accuracies):>9.2f}%"
                  f"{100 * min(accuracies):>7.2f}%{100 * max(accuracies):>7.2f}%  "
                  + " ".join(str(round(a * tested)) for a in accuracies))
    print(f"{args.steps} steps per run, seeds {args.seeds}, {seconds:.0f} s in all; {machine()}")


if __name__ == "__main__":
    main()
