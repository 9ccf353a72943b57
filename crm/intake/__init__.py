"""Intake: callback requests, contacts, leads through the stages, calls and the assessment."""
