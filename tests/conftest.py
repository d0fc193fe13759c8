"""Unit tests draw figures headless (the notebooks' kernels keep their own inline backend)."""

import matplotlib

matplotlib.use("Agg")
