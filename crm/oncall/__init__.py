"""Reminders, office hours, rotas, escalation policies and pages: 24/7 on-call routing."""
