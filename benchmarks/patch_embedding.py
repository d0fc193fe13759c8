"""Three ways to embed patches, timed at ViT-Base/16 scale (224x224, D=768).

    python benchmarks/patch_embedding.py

unfold @ W (chapter 01), conv2d with the reshaped kernel (chapter 02), einops patchify @ W and
nn.Conv2d: the same numbers (checked here), different memory traffic. Forward only, float32.
"""

from __future__ import annotations

import torch

from vitlearn import patches
from vitlearn.measure import interleaved_medians, machine


def main() -> None:
    print(machine())
    torch.manual_seed(0)
    weight = torch.randn(3 * 16 * 16, 768) * 0.02  # (C*P*P, D)
    kernel = patches.weight_to_kernel(weight, 3, 16)  # (D, C, P, P)
    module = torch.nn.Conv2d(3, 768, 16, stride=16, bias=False)
    module.weight.data.copy_(kernel)
    print(f"{'batch':>5} {'unfold @ W':>12} {'conv2d':>12} {'einops @ W':>12} {'nn.Conv2d':>12}   max |diff|")
    for batch in (1, 8, 32):
        images = torch.randn(batch, 3, 224, 224)
        candidates = {
            "unfold": lambda: patches.image2emb_naive(images, 16, weight),
            "conv": lambda: patches.image2emb_conv(images, kernel, 16),
            "einops": lambda: patches.patchify(images, 16) @ weight,
            "module": lambda: module(images).flatten(2).transpose(1, 2),
        }
        with torch.no_grad():
            outputs = [fn() for fn in candidates.values()]
            medians = interleaved_medians(candidates)
        diff = max((o - outputs[0]).abs().max().item() for o in outputs[1:])
        row = " ".join(f"{medians[name] * 1e3:>9.2f} ms" for name in candidates)
        print(f"{batch:>5} {row}   {diff:.1e}")


if __name__ == "__main__":
    main()
