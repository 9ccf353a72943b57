"""Admissions CRM: the back office of an addiction-treatment referral service."""
