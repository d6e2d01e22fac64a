"""Delivery: local delivery (recipients, aliases, quotas) and the outbound relay's parts
(DNS, DSN composition, long-line re-encoding); the queue runner comes later."""
