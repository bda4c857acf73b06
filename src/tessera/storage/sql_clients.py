"""OAuth clients in SQL (:class:`~tessera.storage.protocols.ClientStore`).

Sets are stored as sorted JSON arrays and come back as ``frozenset``; ``audiences`` keeps its
order (the first is the default audience, RFC 8707).
"""

from __future__ import annotations

from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.engine import RowMapping

from tessera.errors import NotFoundError, StorageError
from tessera.storage._sql_base import SqlBase
from tessera.storage.records import AUTH_METHODS, Client, ClientAuthMethod, TokenFormat
from tessera.storage.tables import clients

__all__ = ["SqlClients"]

_KEY = ("tenant_id", "client_id")


def _to_row(client: Client) -> dict[str, Any]:
    return {
        "tenant_id": client.tenant_id,
        "client_id": client.client_id,
        "name": client.name,
        "auth_method": client.auth_method,
        "secret_hash": client.secret_hash,
        "grant_types": sorted(client.grant_types),
        "scopes": sorted(client.scopes),
        "audiences": list(client.audiences),
        "token_format": client.token_format,
        "access_token_ttl": client.access_token_ttl,
        "disabled": client.disabled,
        "created_at": client.created_at,
        "updated_at": client.updated_at,
        "metadata": client.metadata,
    }


def _from_row(row: RowMapping) -> Client:
    auth_method, token_format = row["auth_method"], row["token_format"]
    # A value written by a newer or foreign program must not pass as a valid one.
    if auth_method not in AUTH_METHODS or token_format not in {"jwt", "opaque"}:
        raise StorageError(
            "stored client has an unknown auth method or token format",
            tenant_id=row["tenant_id"],
            client_id=row["client_id"],
        )
    secret_hash = row["secret_hash"]
    return Client(
        tenant_id=row["tenant_id"],
        client_id=row["client_id"],
        name=row["name"],
        auth_method=cast("ClientAuthMethod", auth_method),
        secret_hash=None if secret_hash is None else bytes(secret_hash),
        grant_types=frozenset(row["grant_types"]),
        scopes=frozenset(row["scopes"]),
        audiences=tuple(row["audiences"]),
        token_format=cast("TokenFormat", token_format),
        access_token_ttl=row["access_token_ttl"],
        disabled=bool(row["disabled"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        metadata=dict(row["metadata"]),
    )


class SqlClients(SqlBase):
    async def add_client(self, client: Client) -> None:
        """Raises :class:`NotFoundError` for an unknown tenant, :class:`ConflictError` if taken."""
        await self._add_row(
            clients,
            _to_row(client),
            "client already exists",
            tenant_must_exist=client.tenant_id,
            tenant_id=client.tenant_id,
            client_id=client.client_id,
        )

    async def get_client(self, tenant_id: str, client_id: str) -> Client | None:
        query = sa.select(clients).where(
            clients.c.tenant_id == tenant_id, clients.c.client_id == client_id
        )
        async with self._read() as conn:
            row = (await conn.execute(query)).mappings().first()
        return None if row is None else _from_row(row)

    async def list_clients(self, tenant_id: str) -> list[Client]:
        """A tenant's clients, ordered by ``client_id``."""
        query = (
            sa.select(clients).where(clients.c.tenant_id == tenant_id).order_by(clients.c.client_id)
        )
        async with self._read() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [_from_row(row) for row in rows]

    async def replace_client(self, client: Client) -> None:
        values = {k: v for k, v in _to_row(client).items() if k not in _KEY}
        query = (
            sa.update(clients)
            .where(clients.c.tenant_id == client.tenant_id, clients.c.client_id == client.client_id)
            .values(values)
        )
        async with self._write() as conn:
            result = await conn.execute(query)
        if result.rowcount != 1:
            raise NotFoundError(
                "client does not exist", tenant_id=client.tenant_id, client_id=client.client_id
            )
