"""Persistence: tables, sessions and repositories. Every query is scoped by workspace."""
