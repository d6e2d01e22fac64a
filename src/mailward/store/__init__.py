"""The storage interface and its backends."""
