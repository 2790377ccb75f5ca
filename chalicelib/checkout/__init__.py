"""Products, pinned flash sales, orders, payments."""
