"""Config-driven Flax experiments for the dual-process model (not part of the library)."""
