"""The database: the asyncpg pool and named queries, the embedded server, the migrations."""
