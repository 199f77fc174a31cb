"""Shared test setup: deterministic hypothesis profile sized for a 2-core CI."""

from hypothesis import settings

settings.register_profile("ci", max_examples=40, deadline=None, derandomize=True)
settings.load_profile("ci")
