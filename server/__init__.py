"""Todo API: a contract-first Sanic service over PostgreSQL."""
