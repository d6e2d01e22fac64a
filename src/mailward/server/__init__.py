"""asyncio listeners, connection lifecycle, TLS upgrade, limits, shutdown and reload."""
