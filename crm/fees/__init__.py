"""Referral fees: what providers pay the service (managers and admins only; never matching)."""
