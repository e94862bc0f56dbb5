"""SQLite storage: connections, the versioned schema, writes and read-only queries."""
