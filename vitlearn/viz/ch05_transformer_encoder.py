"""Chapter 05's figures: the pre-norm and post-norm encoder blocks as flow charts, and one image's
attention per head (also chapter 07's, for a trained model)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import torch
from matplotlib.figure import Figure

from vitlearn.viz.drawing import SELF_ATTENTION_STEP, draw_block, encoder_block_steps, panel_grid, show_image
from vitlearn.viz.style import diagram_size, styled


@styled
def plot_encoder_blocks() -> Figure:
    """Chapter 05: the pre-norm encoder block ViT uses beside the post-norm block that
    ``nn.TransformerEncoderLayer`` builds by default, as two flow charts (input at the bottom).

    Takes no data. Tokens ``(B, T, D)`` flow up; each branch is added back to the residual stream
    at a circled plus. Attention mixes the tokens (spatial mixing); the MLP transforms each token
    on its own (channel mixing). Two axes, one per block.
    """
    post = ([("io", "tokens x  (B, T, D)"), SELF_ATTENTION_STEP, ("add", ""), ("norm", "LayerNorm"),
             ("mlp", "MLP: D -> 2048, ReLU, -> D\neach token on its own (channels)"), ("add", ""),
             ("norm", "LayerNorm"), ("io", "(B, T, D) to the next block;\nno final LayerNorm")],
            [(0, 2), (3, 5)])
    fig, axes = plt.subplots(1, 2, figsize=diagram_size(13, 8.5), layout="constrained")
    pre_norm = encoder_block_steps("tokens x  (B, T, D)",
                                   "(B, T, D) to the next block;\nafter the last one: a final LayerNorm")
    draw_block(axes[0], *pre_norm, "Pre-norm (ViT)\nx = x + attn(LN(x));  x = x + mlp(LN(x))")
    draw_block(axes[1], *post, "Post-norm (nn.TransformerEncoderLayer's default)\n"
                               "x = LN(x + attn(x));  x = LN(x + mlp(x)),  dropout 0.1")
    fig.suptitle("One Transformer encoder block, two places for the LayerNorms", fontsize="x-large")
    return fig


@styled
def plot_attention_maps(weights: torch.Tensor, grid: tuple[int, int] | None = None, num_prefix_tokens: int = 1,
                        query: int = 0, image: torch.Tensor | None = None) -> Figure:
    """One image's attention, one panel per head.

    weights ``(h, T, T)`` (or ``(1, h, T, T)``), rows = queries, columns = keys. Without ``grid``
    each panel is the full ``T x T`` matrix. With ``grid = (grid_h, grid_w)`` each panel shows
    what token ``query`` (default 0, the CLS token) attends to among the patch tokens (those
    after the ``num_prefix_tokens`` prefix tokens) as a ``grid_h x grid_w`` map, laid over
    ``image`` ``(1, C, H, W)`` when given.
    """
    weights = weights.detach().cpu()
    if weights.ndim == 4 and weights.shape[0] == 1:
        weights = weights[0]  # (h, T, T)
    if weights.ndim != 3 or weights.shape[1] != weights.shape[2]:
        raise ValueError(f"weights must be one image's (h, T, T) attention, got {tuple(weights.shape)}")
    heads, tokens = weights.shape[0], weights.shape[1]
    if grid is not None:
        grid_h, grid_w = grid
        if tokens - num_prefix_tokens != grid_h * grid_w:
            raise ValueError(f"a {grid_h}x{grid_w} grid needs {grid_h * grid_w} patch tokens after "
                             f"{num_prefix_tokens} prefix token(s), but weights have T={tokens}")
        maps = weights[:, query, num_prefix_tokens:].reshape(heads, grid_h, grid_w)  # (h, grid_h, grid_w)
    fig, axes = panel_grid(heads, 4, (3.2, 3.4))
    for head, ax in enumerate(axes):
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(f"head {head}")
        if grid is None:
            ax.imshow(weights[head].numpy(), cmap="viridis", vmin=0, interpolation="nearest")
            ax.set(xlabel="key", ylabel="query")
        elif image is None:
            ax.imshow(maps[head].numpy(), cmap="inferno", vmin=0, interpolation="nearest")
        else:
            show_image(ax, image)
            height, width = image.shape[-2:]
            ax.imshow(maps[head].numpy(), cmap="inferno", alpha=0.6, interpolation="bilinear",
                      extent=(-0.5, width - 0.5, height - 0.5, -0.5))  # stretched over the image
    if grid is None:
        fig.suptitle(f"Attention weights, {tokens} x {tokens} per head: row = query, column = key (each row sums to 1)")
    else:
        who = "the CLS token" if query == 0 and num_prefix_tokens else f"token {query}"
        fig.suptitle(f"What {who} attends to among the {grid_h}x{grid_w} patches, one panel per head")
    return fig
