"""Message parsing shared by the protocols."""
