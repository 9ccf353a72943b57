"""Notifications: contact methods, outbound messages and the channels that send them."""
