"""The guarded executor (DESIGN rule 5): declared actions only, approvals, locks, timeouts, audit."""
