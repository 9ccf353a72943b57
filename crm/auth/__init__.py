"""Staff accounts, sessions, roles and permissions."""
