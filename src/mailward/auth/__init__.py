"""Password hashing, SASL mechanisms, throttling and account backends.

- :mod:`mailward.auth.passwords`: argon2id hashes and SCRAM-SHA-256 keys (``Credentials``);
- :mod:`mailward.auth.sasl`: the mechanisms, the per-connection policy, the exchange driver;
- :mod:`mailward.auth.throttle`: failed-login counting, delays and blocks;
- :mod:`mailward.auth.channel_binding`: RFC 9266 tls-exporter data for SCRAM-PLUS;
- :mod:`mailward.auth.log`: the login log line.
"""
