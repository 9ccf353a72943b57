"""Benchmarks: scripts that print figures and write them under bench/results/ (never tests)."""
