"""The durable record of a run: the checkpoint owns its SQLite schema and every statement on it."""
