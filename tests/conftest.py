"""Shared pytest configuration. Tier-specific fixtures live in tests/<tier>/conftest.py."""
