"""The history's schema versions, applied by Alembic at start-up (see migrate.py)."""
