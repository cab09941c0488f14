"""Change management (procedures 5.2): change requests, their approvals and their lifecycle."""
