"""Referrals: matching a lead to provider locations, presenting options, and referring."""
