"""PostgreSQL query store: schema migrations, connection settings, batched idempotent writers."""
