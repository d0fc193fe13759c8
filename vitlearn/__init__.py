"""vitlearn: the Vision Transformer, line by line in PyTorch.

The course follows the Chinese blog post *Vision Transformer(ViT)模型原理及PyTorch逐行实现*, which
builds ViT step by step (image -> patches -> embeddings -> CLS token -> position embeddings ->
encoder -> classification); "the blog post" or "the post" in comments, hints and errata is that
post, and its example (one 3x8x8 image, patch 4) is the first case of many checks.

Reference code by chapter (``patches``, ...), learner checks (``vitlearn.checks``), data
(``vitlearn.data``) and figures (``vitlearn.viz``). ARCHITECTURE.md says which module may
import which.
"""

__version__ = "0.1.0"
