"""Data protection: the audit trail (consent, retention and rights requests come later)."""
