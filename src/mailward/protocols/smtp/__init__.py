"""SMTP: the sans-IO server core (RFC 5321 and the extensions real clients use)."""
