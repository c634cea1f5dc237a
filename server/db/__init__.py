"""The database: the asyncpg pool and named queries, the embedded server, the migrations, and
the one LISTEN connection of a worker (the signals PostgreSQL carries between workers)."""
