"""The manual order of siblings (lists among lists, tasks among tasks): keys between
neighbours (positions.py), and putting one item among its siblings (siblings.py)."""
