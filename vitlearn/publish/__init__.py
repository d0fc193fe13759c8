"""The book published for readers without Python: ``vitlearn slides`` (a reveal.js deck of one chapter) and
``vitlearn site`` (every chapter as a static website, ``make book``). Both open from disk with no network:
the front-end files they need (reveal.js, KaTeX) are carried in ``static/`` and copied beside the output.

``render`` holds what both share (the chapters, nbconvert with vitlearn's templates, the static files),
``slides`` and ``site`` one command each. Light at import: nbconvert loads when a command runs.
"""
