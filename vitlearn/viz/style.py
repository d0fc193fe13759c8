"""The two figure styles, and sizes that follow the active one.

``"notebook"`` keeps the current rcParams (matplotlib's unless you changed them); ``"projector"``
has large type readable from the back of a room, thick lines and the Okabe-Ito colours.
:func:`styled` gives a figure function its ``style=`` keyword; ``with projector():`` styles any
figure drawn inside. Sizes given relative to the style (:func:`line_width`, :func:`marker_size`,
:func:`diagram_size`) let one drawing serve both.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import matplotlib as mpl
import matplotlib.pyplot as plt
from cycler import cycler
from matplotlib.figure import Figure

OKABE_ITO = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000")
"""Okabe & Ito's colour-blind-safe palette, ordered like matplotlib's tab10: C0 blue, C1 orange,
C2 green, C3 red (vermillion)."""


PROJECTOR_RC: dict[str, object] = {
    "font.size": 17,  # 1.7 x matplotlib's 10 pt; every text size here is relative to it
    "axes.titlesize": "medium",  # bold instead of larger: panels' titles must fit above the panels
    "axes.titleweight": "bold",
    "figure.titleweight": "bold",
    "lines.linewidth": 3.0,  # 2 x the default; explicit widths scale with it (line_width)
    "lines.markersize": 9,
    "axes.linewidth": 1.8,
    "xtick.major.width": 1.8,
    "ytick.major.width": 1.8,
    "xtick.major.size": 7,
    "ytick.major.size": 7,
    "xtick.minor.visible": False,
    "ytick.minor.visible": False,
    "grid.linewidth": 1.2,
    "legend.framealpha": 1.0,
    "axes.prop_cycle": cycler(color=OKABE_ITO),
    "image.cmap": "viridis",
    "figure.facecolor": "white",
    "axes.facecolor": "white",
    "savefig.facecolor": "white",
    "text.color": "black",
    "axes.edgecolor": "black",
    "axes.labelcolor": "black",
    "xtick.color": "black",
    "ytick.color": "black",
}


STYLES: dict[str, dict[str, object]] = {"notebook": {}, "projector": PROJECTOR_RC}
"""Style name -> the rcParams it sets; "notebook" keeps the current ones."""


@contextmanager
def _rc_scope(settings: dict[str, object]) -> Iterator[None]:
    """Set ``settings`` in rcParams for the ``with`` block, then restore just those keys.

    Unlike ``plt.rc_context``, which restores every key, this keeps what matplotlib sets on its
    own meanwhile: Jupyter turns on interactive mode when the kernel's first figure is made, and
    reverting that would stop later figures from being shown inline.
    """
    saved = {key: plt.rcParams[key] for key in settings}
    plt.rcParams.update(settings)
    try:
        yield
    finally:
        plt.rcParams.update(saved)


@contextmanager
def projector() -> Iterator[None]:
    """Figures created inside ``with viz.projector():`` use the projector style (any figure,
    not only this module's): like passing ``style="projector"`` to each figure function."""
    with _rc_scope(PROJECTOR_RC):
        yield


def styled(draw: Callable[..., Figure]) -> Callable[..., Figure]:
    """Decorator: give a figure function a keyword-only ``style`` ("notebook" or "projector") and
    draw the figure under that style's rcParams.

    Sizes are fixed when the figure is made, so it keeps its style when shown or saved later.
    Titles wrap at the figure's edge rather than run off it (long titles in large type).
    """

    @functools.wraps(draw)
    def draw_styled(*args, style: str = "notebook", **kwargs) -> Figure:
        if style not in STYLES:
            raise ValueError(f"style must be one of {', '.join(map(repr, STYLES))}, got {style!r}")
        with _rc_scope(STYLES[style]):
            fig = draw(*args, **kwargs)
        for figure in (fig, *fig.subfigs):
            for text in figure.texts:  # suptitle, supxlabel, supylabel
                text.set_wrap(True)
        for ax in fig.axes:
            ax.title.set_wrap(True)
        return fig

    signature = inspect.signature(draw)
    style = inspect.Parameter("style", inspect.Parameter.KEYWORD_ONLY, default="notebook", annotation="str")
    draw_styled.__signature__ = signature.replace(parameters=[*signature.parameters.values(), style])
    return draw_styled


def cycle_colors() -> list[str]:
    """The active style's colour cycle: tab10 in the notebook, Okabe-Ito on the projector."""
    return plt.rcParams["axes.prop_cycle"].by_key()["color"]


def line_width(width: float) -> float:
    """A line width given for matplotlib's default ``lines.linewidth``, scaled to the active style's."""
    return width * plt.rcParams["lines.linewidth"] / mpl.rcParamsDefault["lines.linewidth"]


def marker_size(scale: float = 1.0) -> float:
    """A marker's diameter in points: ``scale`` x the active style's ``lines.markersize``."""
    return scale * plt.rcParams["lines.markersize"]


def diagram_size(width: float, height: float) -> tuple[float, float]:
    """A text-heavy diagram's figure size, grown with the style's font size (from matplotlib's default),
    so that its labels keep fitting in their boxes when the type grows."""
    scale = max(1.0, plt.rcParams["font.size"] / mpl.rcParamsDefault["font.size"])
    return width * scale, height * scale
