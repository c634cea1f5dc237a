"""Request machinery several domains share: entity tags, preconditions and conditional reads
(preconditions.py), and paging tokens (paging.py)."""
