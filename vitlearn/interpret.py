"""Chapter 07: what a trained ViT learned, as numbers the figures draw (the ViT paper, Fig. 6 and 7).

* ``attention_rollout``        - Abnar & Zuidema (2020): how much each input token reaches each
                                 output token through all layers, residual paths included;
* ``cls_rollout_map``          - the CLS row of the rollout as a patch-grid heat map (Fig. 6);
* ``mean_attention_distance``  - per layer and head, the attention-weighted pixel distance between
                                 query and key patches (Fig. 7, right);
* ``embedding_filter_components`` - the top principal components of the patch-embedding filters
                                 (Fig. 7, left).

Attention weights come from ``ViT.forward(images, return_attention=True)``: one ``(B, h, T, T)``
tensor per layer, rows = queries, columns = keys, ``T = prefix + N``.
"""

from __future__ import annotations

import torch

from vitlearn._validate import require_tensor


def _stack(attentions: list[torch.Tensor] | tuple[torch.Tensor, ...] | torch.Tensor) -> torch.Tensor:
    """A list of ``L`` per-layer ``(B, h, T, T)`` weights -> one ``(L, B, h, T, T)`` float64 tensor."""
    if isinstance(attentions, torch.Tensor):
        attentions = list(attentions) if attentions.ndim == 5 else [attentions]
    if not attentions:
        raise ValueError("attentions must hold at least one layer's (B, h, T, T) weights")
    layers = [require_tensor(a, f"attentions[{i}]", 4, "(B, h, T, T)") for i, a in enumerate(attentions)]
    shape = layers[0].shape
    if shape[-1] != shape[-2] or any(a.shape != shape for a in layers):
        raise ValueError(f"every layer's weights must be (B, h, T, T) with one shape, got "
                         f"{[tuple(a.shape) for a in layers]}")
    return torch.stack([a.detach().double() for a in layers])  # (L, B, h, T, T)


def _dtype_of(attentions: list[torch.Tensor] | tuple[torch.Tensor, ...] | torch.Tensor) -> torch.dtype:
    return attentions.dtype if isinstance(attentions, torch.Tensor) else attentions[0].dtype


def attention_rollout(attentions: list[torch.Tensor], residual: float = 0.5) -> torch.Tensor:
    """Attention rollout: ``L`` layers of ``(B, h, T, T)`` weights -> ``(B, T, T)``.

    ``attentions`` is a list of per-layer weights (as ``ViT(..., return_attention=True)`` returns
    them) or one stacked ``(L, B, h, T, T)`` tensor. Per layer: average the heads (``W``,
    ``(B, T, T)``), add the residual connection as ``A = (1 - residual) * W + residual * I``,
    renormalise every row to sum to 1. Then multiply the layers from the input up,
    ``R = A_L @ ... @ A_2 @ A_1``: row ``t`` of ``R`` says how much of each input token ends up in
    output token ``t``. Each row of the result sums to 1. Computed in float64, returned in the
    weights' dtype.
    """
    if not 0 <= residual <= 1:
        raise ValueError(f"residual must be in [0, 1], got {residual!r}")
    stacked = _stack(attentions)  # (L, B, h, T, T)
    tokens = stacked.shape[-1]
    identity = torch.eye(tokens, dtype=stacked.dtype, device=stacked.device)  # (T, T)
    rollout = identity.expand(stacked.shape[1], tokens, tokens)  # (B, T, T)
    for layer in stacked:  # the first layer (nearest the input) first
        mixed = (1 - residual) * layer.mean(dim=1) + residual * identity  # (B, T, T)
        mixed = mixed / mixed.sum(dim=-1, keepdim=True)  # rows sum to 1
        rollout = mixed @ rollout  # (B, T, T): this layer on top of those below
    return rollout.to(_dtype_of(attentions))


def cls_rollout_map(attentions: list[torch.Tensor], grid: tuple[int, int], residual: float = 0.5) -> torch.Tensor:
    """How much each patch reaches the CLS output: ``(B, grid_h, grid_w)``, each map summing to 1.

    The CLS row (token 0) of ``attention_rollout``, without the CLS column, renormalised and laid
    out as the patch grid (reading order). Needs a model with ``pool="cls"``.
    """
    rollout = attention_rollout(attentions, residual)  # (B, T, T)
    grid_h, grid_w = grid
    if rollout.shape[-1] != 1 + grid_h * grid_w:
        raise ValueError(f"a {grid_h}x{grid_w} grid with a CLS token needs T = {1 + grid_h * grid_w} tokens, "
                         f"the weights have T = {rollout.shape[-1]}")
    row = rollout[:, 0, 1:]  # (B, N): what each patch contributes to the CLS output
    row = row / row.sum(dim=-1, keepdim=True)
    return row.reshape(-1, grid_h, grid_w)  # (B, grid_h, grid_w)


def patch_distances(grid: tuple[int, int], patch_size: int) -> torch.Tensor:
    """Pixel distance between the centres of every two patches of a grid: ``(N, N)`` float64."""
    grid_h, grid_w = grid
    rows, cols = torch.meshgrid(torch.arange(grid_h), torch.arange(grid_w), indexing="ij")
    centres = torch.stack([rows.flatten(), cols.flatten()], dim=1).double() * patch_size  # (N, 2) pixels
    return torch.cdist(centres, centres)  # (N, N)


def mean_attention_distance(attentions: list[torch.Tensor], grid: tuple[int, int], patch_size: int,
                            num_prefix_tokens: int = 1) -> torch.Tensor:
    """The ViT paper's "attention distance": ``L`` layers of ``(B, h, T, T)`` -> ``(L, h)`` pixels.

    For each query patch, the attention-weighted mean pixel distance to the key patches (prefix
    tokens such as CLS dropped, each query's weights over the patches renormalised to sum to 1),
    averaged over query patches and images. Small: the head looks locally, like a small
    convolution kernel; large: it gathers from across the image.
    """
    stacked = _stack(attentions)  # (L, B, h, T, T)
    grid_h, grid_w = grid
    patches = grid_h * grid_w
    if stacked.shape[-1] != num_prefix_tokens + patches:
        raise ValueError(f"a {grid_h}x{grid_w} grid with {num_prefix_tokens} prefix token(s) needs "
                         f"T = {num_prefix_tokens + patches}, the weights have T = {stacked.shape[-1]}")
    weights = stacked[..., num_prefix_tokens:, num_prefix_tokens:]  # (L, B, h, N, N) patch -> patch
    weights = weights / weights.sum(dim=-1, keepdim=True).clamp_min(1e-300)
    distance = patch_distances(grid, patch_size).to(weights.device)  # (N, N)
    per_query = (weights * distance).sum(dim=-1)  # (L, B, h, N)
    return per_query.mean(dim=(1, 3))  # (L, h)


def embedding_filter_components(weight: torch.Tensor, count: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    """The top principal components of the patch-embedding filters (the ViT paper's Fig. 7, left).

    weight ``(D, C, P, P)`` (the ``nn.Conv2d`` patch embedding's weight: ``D`` filters) ->
    (components ``(count, C, P, P)``, explained ``(count,)``: the share of the filters' variance
    each component explains). The filters are centred, then the right singular vectors of the
    ``(D, C*P*P)`` matrix are the components, strongest first; a component's sign is arbitrary, so
    each is flipped to make its largest-magnitude pixel positive.
    """
    weight = require_tensor(weight, "weight", 4, "(D, C, P, P)")
    filters = weight.detach().cpu().double().flatten(1)  # (D, C*P*P)
    count = min(count, *filters.shape)
    centred = filters - filters.mean(dim=0, keepdim=True)
    _, singular, right = torch.linalg.svd(centred, full_matrices=False)  # right (r, C*P*P)
    components = right[:count]  # (count, C*P*P)
    strongest = components.abs().argmax(dim=1, keepdim=True)
    components = components * components.gather(1, strongest).sign()
    explained = singular.square() / singular.square().sum().clamp_min(1e-300)
    return components.reshape(count, *weight.shape[1:]), explained[:count]
