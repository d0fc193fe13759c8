"""Unit tests draw figures headless (the notebooks' kernels keep their own inline backend)."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest


@pytest.fixture
def pixels():
    """``pixels(fig)``: draw the figure headless, close it, return its ``(H, W, 4)`` RGBA array."""

    def render(fig) -> np.ndarray:
        fig.canvas.draw()
        rgba = np.asarray(fig.canvas.buffer_rgba()).copy()
        plt.close(fig)
        return rgba

    return render
