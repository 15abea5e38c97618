"""The SQLite backends (the embedded default): one module per store, each with
its tables, in one database file."""
