"""vitlearn: the Vision Transformer, line by line in PyTorch.

Reference code by chapter (``patches``, ...), learner checks (``vitlearn.checks``), data
(``vitlearn.data``) and figures (``vitlearn.viz``).
"""

__version__ = "0.1.0"
