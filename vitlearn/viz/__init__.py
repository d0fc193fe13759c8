"""Every figure of the course, one function each; each returns a matplotlib ``Figure``.

The functions only draw: they take tensors, never train or download anything, and render
headless (the Agg backend) as well as inline in Jupyter. ``vitlearn figures`` renders the whole
set (``vitlearn.figures``).

Every ``plot_*`` function takes a keyword-only ``style``: ``"notebook"`` (the default: the current
rcParams, matplotlib's unless you changed them) or ``"projector"`` (large type readable from the
back of a room, thick lines, Okabe-Ito colours); ``with viz.projector():`` does the same for every
figure drawn inside, yours included. Sizes are relative to the style's font size and line width,
so one drawing serves both.

This module is the face the chapters call (``viz.<name>``). The rooms behind it:
``style`` (the styles), ``drawing`` (pieces several figures share), and one module per chapter,
named like its notebook (``ch00_transformer_anatomy`` ... ``ch08_distillation``), holding the figures
that chapter introduces; a later chapter reuses them from there. ``explore`` wires those figures to
sliders: the live explorers.
"""

from vitlearn.viz.ch00_transformer_anatomy import (
    plot_attention_cost,
    plot_attention_masks,
    plot_data_efficiency,
    plot_transformer_blocks,
)
from vitlearn.viz.ch01_image_to_patches import plot_patch_grid, plot_patch_sequence, plot_patch_vector
from vitlearn.viz.ch02_conv2d_equivalence import plot_embedding_channels, plot_weight_and_kernels
from vitlearn.viz.ch03_cls_token import plot_accuracy_curves, plot_matrices
from vitlearn.viz.ch04_position_embedding import (
    plot_cls_and_positions,
    plot_position_interpolation,
    plot_position_similarity,
    plot_shuffled_patches,
)
from vitlearn.viz.ch05_transformer_encoder import plot_attention_maps, plot_encoder_blocks
from vitlearn.viz.ch06_classification_loss import plot_forward_pass
from vitlearn.viz.ch07_train_vit import (
    SHIFTS,
    plot_attention_distance,
    plot_attention_rollout,
    plot_embedding_filters,
    plot_misclassified,
    plot_shifts,
    plot_training_curves,
)
from vitlearn.viz.ch08_distillation import (
    plot_deit_tokens,
    plot_head_accuracies,
    plot_token_rollout,
    plot_token_similarity,
)
from vitlearn.viz.drawing import BLOCK_COLORS
from vitlearn.viz.explore import (
    Explorer,
    attention_explorer,
    mask_explorer,
    patch_explorer,
    patch_vector_explorer,
    position_explorer,
)
from vitlearn.viz.style import OKABE_ITO, PROJECTOR_RC, STYLES, projector, styled

__all__ = [
    # styles
    "OKABE_ITO", "PROJECTOR_RC", "STYLES", "projector", "styled", "BLOCK_COLORS",
    # chapter 00
    "plot_transformer_blocks", "plot_attention_masks", "plot_attention_cost", "plot_data_efficiency",
    # chapters 01-02
    "plot_patch_grid", "plot_patch_sequence", "plot_weight_and_kernels", "plot_embedding_channels",
    # chapters 03-04
    "plot_matrices", "plot_accuracy_curves", "plot_cls_and_positions", "plot_shuffled_patches",
    "plot_position_similarity", "plot_position_interpolation",
    # chapters 05-06
    "plot_encoder_blocks", "plot_attention_maps", "plot_forward_pass",
    # chapter 07
    "plot_training_curves", "plot_attention_rollout", "plot_embedding_filters", "plot_attention_distance",
    "SHIFTS", "plot_shifts", "plot_misclassified",
    # chapter 08
    "plot_deit_tokens", "plot_token_similarity", "plot_head_accuracies", "plot_token_rollout",
    # live explorers (explore): a figure above wired to sliders, one static picture where widgets cannot run
    "Explorer", "patch_explorer", "patch_vector_explorer", "plot_patch_vector", "position_explorer",
    "attention_explorer", "mask_explorer",
]
