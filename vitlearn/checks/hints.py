"""Hint texts that exercises of more than one chapter give; each exercise's own stay in its module."""

BATCH_LOST_HINT = (
    "The output lost the batch dimension (it is (N, D) or (B*N, D)): keep (B, N, D), one "
    "sequence of N tokens per image."
)
