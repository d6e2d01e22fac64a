"""Local delivery (recipients, aliases, quotas); the outbound queue and client come later."""
