"""Persistence: SQLModel tables, repositories and Alembic migrations (SQLite or PostgreSQL)."""
