"""The results table, its row key, and run directories on disk (written atomically)."""
