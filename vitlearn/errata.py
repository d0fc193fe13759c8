"""Showing the blog post's errata (the post the course follows, see ``vitlearn``): run the broken line,
print the error it raises, keep going."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def shows_error() -> Iterator[None]:
    """Run the ``with`` body; print the exception it raises as ``❌ Type: message`` instead of failing.

    Prints ``no error`` when the body runs cleanly, so a fixed line can be shown the same way.
    """
    try:
        yield
    except Exception as exc:  # noqa: BLE001 - the point is to display it
        print(f"❌ {type(exc).__name__}: {exc}")
    else:
        print("✅ no error")
