"""Persistence: SQLAlchemy models, Alembic migrations and the repositories over them.

SQLite file in the working folder by default, PostgreSQL (psycopg 3) by URL.  SQL lives here and
nowhere else; other packages hand in and get back the plain dataclasses of ``records``.
"""
