"""The guarded executor (docs/architecture.md, "Guarded execution"): declared actions only,
approvals, locks, timeouts, audit."""
