"""``vitlearn train``: train the ViT on the bundled digits and write what it learned to ``--out``.

    vitlearn train --out runs/digits                 # 60 s on the CPU or GPU, the default recipe
    vitlearn train --out runs/pure --model vit       # the pure ViT instead of the hybrid
    vitlearn train --out runs/quick --budget 15 --seed 1
    vitlearn train --out runs/e30 --epochs 30        # by epochs instead of the clock
    vitlearn train --out runs/deit --model deit      # DeiT: a CNN teacher first, then the pure ViT it teaches

Writes ``model.pt`` (``vitlearn.train.load_checkpoint`` reads it back), ``metrics.json`` (test
accuracy, the history, the recipe, the machine), ``curves.png`` and ``misclassified.png``.
Light at import: torch is imported only when the command runs.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def register(commands) -> None:
    """Add the ``train`` subcommand to ``vitlearn``'s subparsers."""
    parser = commands.add_parser("train", help="train the ViT on the bundled digits; write checkpoint, metrics, curves",
                                 description="Train vitlearn's ViT on scikit-learn's bundled digits (nothing is "
                                             "downloaded), print the test accuracy, and write model.pt, metrics.json, "
                                             "curves.png and misclassified.png to --out.")
    parser.add_argument("--out", type=Path, required=True, help="folder to write the results to")
    parser.add_argument("--budget", type=float, default=None,
                        help="training wall-clock seconds (default 60, or none when --epochs is given)")
    parser.add_argument("--epochs", type=int, default=None, help="passes over the training set (default: by budget)")
    parser.add_argument("--model", choices=["hybrid", "vit", "deit"], default="hybrid",
                        help="hybrid: patches cut from a 3x3 convolution (the ViT paper's section 3.1, the more "
                             "accurate on the digits; the default); vit: the pure ViT of chapters 01-06; deit: "
                             "the pure ViT with DeiT's distillation token, taught by a small CNN trained first "
                             "(chapter 08; the teacher's time counts in the budget)")
    parser.add_argument("--seed", type=int, default=0, help="seed for the weights, shuffling and augmentation")
    parser.add_argument("--device", default="auto", help="auto (CUDA if available), cpu, cuda or cuda:N")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads (default: 1 on the CPU, where the digits model gains nothing from more)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import json
    from dataclasses import asdict

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import torch

    from vitlearn import viz
    from vitlearn.data import digits
    from vitlearn.distill import digits_distillation_recipe, digits_teacher, train_deit
    from vitlearn.measure import machine
    from vitlearn.model import DIGITS_DEIT, DIGITS_MODELS, ViT
    from vitlearn.train import digits_recipe, evaluate, predict, resolve_device, save_checkpoint, train

    if args.threads or resolve_device(args.device).type == "cpu":
        torch.set_num_threads(args.threads or 1)  # tiny matrices: more threads only add waiting
    budget = args.budget if args.budget is not None else (None if args.epochs else 60.0)
    config = digits_recipe(budget=budget, epochs=args.epochs, seed=args.seed, device=args.device)
    split = digits()
    if args.model == "deit":
        torch.manual_seed(args.seed)
        teacher = digits_teacher()  # built first, then the student from the same seed: as benchmarks/train_digits.py
    torch.manual_seed(args.seed)
    architecture = DIGITS_DEIT if args.model == "deit" else DIGITS_MODELS[args.model]
    model = ViT(architecture)
    test = (split.test_images, split.test_labels)
    teacher_report = {}
    if args.model == "deit":
        distillation = digits_distillation_recipe(budget=budget, epochs=args.epochs, seed=args.seed, device=args.device)
        config = distillation.student
        teacher_history, history = train_deit(model, teacher, split.train_images, split.train_labels, distillation,
                                              evaluation=test, progress=not args.quiet)
        teacher_report = {"teacher_test_accuracy": evaluate(teacher, *test), "teacher_seconds": teacher_history.seconds,
                          "teacher_epochs": len(teacher_history.epoch_loss), "teacher_recipe": vars(distillation.teacher)}
    else:
        history = train(model, split.train_images, split.train_labels, config, evaluation=test, progress=not args.quiet)
    seconds = history.seconds + teacher_report.get("teacher_seconds", 0.0)  # DeiT: the teacher's time counts
    predictions = predict(model, split.test_images)
    accuracy = (predictions == split.test_labels).float().mean().item()
    wrong = int((predictions != split.test_labels).sum())
    svc = _svc_accuracy(split)
    args.out.mkdir(parents=True, exist_ok=True)
    ran_on = f"{machine()}, device {history.device}"
    recipe = {**vars(config), "model": asdict(architecture)}
    checkpoint = save_checkpoint(model, args.out / "model.pt", test_accuracy=accuracy, recipe=recipe,
                                 history=history.to_dict(), machine=ran_on)
    metrics = {"test_accuracy": accuracy, "test_wrong": wrong, "test_size": len(predictions),
               "svc_test_accuracy": svc, "training_seconds": seconds, "epochs": len(history.epoch_loss),
               "steps": len(history.step_loss), "recipe": recipe, "machine": ran_on, "history": history.to_dict(),
               **teacher_report}
    (args.out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    figures = {
        "curves": viz.plot_training_curves(history.step_loss, history.evaluation_accuracy,
                                           train_accuracy=history.train_accuracy, epoch_seconds=history.epoch_seconds,
                                           reference=("SVC(gamma=0.001)", svc),
                                           title=f"ViT ({args.model}) on the digits, seed {args.seed}: "
                                                 f"{100 * accuracy:.2f} % test accuracy"),
        "misclassified": viz.plot_misclassified(split.test_images, split.test_labels, predictions),
    }
    for name, fig in figures.items():
        fig.savefig(args.out / f"{name}.png", dpi=120)
        plt.close(fig)
    teacher_line = (f" (teacher CNN {100 * teacher_report['teacher_test_accuracy']:.2f} %, "
                    f"{teacher_report['teacher_epochs']} epochs in {teacher_report['teacher_seconds']:.1f} s, included)"
                    if teacher_report else "")
    print(f"test accuracy {100 * accuracy:.2f} % ({wrong} of {len(predictions)} wrong) after "
          f"{seconds:.1f} s{teacher_line}, {len(history.epoch_loss)} epochs on {history.device}; "
          f"SVC(gamma=0.001) {100 * svc:.2f} %")
    print(f"wrote {checkpoint}, {args.out / 'metrics.json'}, {args.out / 'curves.png'}, "
          f"{args.out / 'misclassified.png'}")
    return 0


def _svc_accuracy(split) -> float:
    """The classical anchor on the same split: scikit-learn's ``SVC(gamma=0.001)`` on raw pixels."""
    from sklearn.svm import SVC

    def flat(images):
        return (images.flatten(1) * 16).numpy()  # sklearn's pixel scale, 0..16

    svc = SVC(gamma=0.001).fit(flat(split.train_images), split.train_labels.numpy())
    return float((svc.predict(flat(split.test_images)) == split.test_labels.numpy()).mean())
