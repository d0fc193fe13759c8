"""Training-step throughput: vitlearn's ViT against Hugging Face's ViTForImageClassification.

One step = forward + cross-entropy + backward + AdamW step, in images per second, for the same
architecture and the same weights (copied with ``ViT.from_hf``), dropout off. Runs are interleaved
(A, B, A, B, ...) and the median step time is taken. CPU always, CUDA when present.

    python benchmarks/throughput.py                      # ViT-Ti/16 at 224x224 (batch 8) and the digits model
    python benchmarks/throughput.py --repeats 5 --only digits --devices cpu      # a quick smoke test
"""

from __future__ import annotations

import argparse
import warnings

import torch
import torch.nn.functional as F

from vitlearn.measure import interleaved_medians, machine

CONFIGS = {
    # name: (architecture, batch size)
    "ViT-Ti/16 224x224": (dict(image_size=224, patch_size=16, in_channels=3, num_classes=1000, dim=192, depth=12,
                               num_heads=3, mlp_dim=768), 8),
    "digits (8x8, patch 4)": (dict(image_size=8, patch_size=4, in_channels=1, num_classes=10, dim=64, depth=4,
                                   num_heads=4, mlp_dim=256), 64),
}


def hugging_face(arch: dict):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from transformers import ViTConfig, ViTForImageClassification
    config = ViTConfig(image_size=arch["image_size"], patch_size=arch["patch_size"], num_channels=arch["in_channels"],
                       hidden_size=arch["dim"], num_hidden_layers=arch["depth"], num_attention_heads=arch["num_heads"],
                       intermediate_size=arch["mlp_dim"], hidden_act="gelu", layer_norm_eps=1e-6,
                       hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, num_labels=arch["num_classes"])
    return ViTForImageClassification(config)


def step_fn(model, images, labels, logits_of, device):
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    synchronize = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)

    def step():
        loss = F.cross_entropy(logits_of(model, images), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        synchronize()

    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=15, help="timed steps per model (median taken)")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--devices", default="all", help="cpu, cuda, or all (cpu, plus cuda when present)")
    parser.add_argument("--only", default=None, help="run only the configurations whose name contains this")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    from vitlearn.model import ViT

    devices = ["cpu"] if args.devices in ("cpu", "all") else []
    if args.devices in ("cuda", "all") and torch.cuda.is_available():
        devices.append("cuda")
    print(machine())
    if torch.cuda.is_available():
        print(f"CUDA: {torch.cuda.get_device_name()}")
    print(f"{'model':<24}{'device':<8}{'batch':>6}{'vitlearn img/s':>16}{'HF img/s':>12}{'ratio':>8}")
    for name, (arch, batch) in CONFIGS.items():
        if args.only and args.only not in name:
            continue
        for device in map(torch.device, devices):
            torch.manual_seed(0)
            theirs = hugging_face(arch)
            ours = ViT.from_hf(theirs)
            theirs.to(device).train()
            ours.to(device).train()
            images = torch.rand(batch, arch["in_channels"], arch["image_size"], arch["image_size"], device=device)
            labels = torch.randint(0, arch["num_classes"], (batch,), device=device)
            medians = interleaved_medians({
                "vitlearn": step_fn(ours, images, labels, lambda m, x: m(x), device),
                "hf": step_fn(theirs, images, labels, lambda m, x: m(pixel_values=x).logits, device),
            }, repeats=args.repeats, warmup=args.warmup)
            speed = {k: batch / v for k, v in medians.items()}
            print(f"{name:<24}{device.type:<8}{batch:>6}{speed['vitlearn']:>16.1f}{speed['hf']:>12.1f}"
                  f"{speed['vitlearn'] / speed['hf']:>8.2f}", flush=True)
    print("ratio = vitlearn images/s / Hugging Face images/s (>= 1: vitlearn is not slower)")


if __name__ == "__main__":
    main()
