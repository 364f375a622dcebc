"""The execution history: every ended job kept in SQL (SQLite or PostgreSQL, one schema).

tables.py is the schema, migrations/ its versions (Alembic, applied at start-up), records.py
turns a job into its row and a row into the history's answer, store.py writes, deletes,
purges and reads, writer.py moves ended jobs from the job store's outbox to the database.
"""
