"""The data API example: claims are hints, every request is re-authorized down to the rows.

``python -m examples.data_api generate`` writes a realistic event dataset (tenants,
memberships, a million events in well under a minute); ``serve`` runs an API in front of it
that verifies Tessera's tokens, confirms the caller's tenant against the ``memberships``
table, maps scopes to actions, asks Cedar policies, and runs every query in a transaction
confined to the verified tenant (PostgreSQL row-level security; SQLite tenant views).
See the README's "Data API example".
"""
