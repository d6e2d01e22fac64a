"""Local delivery and the outbound queue."""
