"""Backup and recovery (procedures 5.3): dumps, archives, checksums, copies, retention, restores."""
