"""Storage tests use the shared `database_url` and `store` fixtures of tests/conftest.py."""
