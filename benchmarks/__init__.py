"""Benchmarks: figures printed, never asserted by timed unit tests."""
