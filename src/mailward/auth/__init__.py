"""Password hashing, SASL mechanisms, throttling and account backends."""
