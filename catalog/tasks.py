"""Products, variants (SKUs), categories and per-channel listings and prices."""
