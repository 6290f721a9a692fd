"""Development-only helpers (not deployed): template reader, later the local runtime."""
