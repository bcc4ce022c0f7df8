"""Pure helpers (no I/O): identifiers, names, hashing, canonical JSON, time."""
