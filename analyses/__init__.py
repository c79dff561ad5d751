"""reportgen's analysis suite: pure, batched torch numerics.

Every information quantity is in bits. Tensors hold samples along dim -2 and
variable dimensions along dim -1 (``[..., n, d]``); leading dimensions are a
batch. Nothing here reads files, prints or knows that a report exists.
"""
