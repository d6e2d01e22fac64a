"""TLS policy, certificates and contexts for every listener and the outbound client."""
