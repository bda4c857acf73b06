"""The shapes of tenant and client identifiers, shared by registration and lookup.

Anything that does not match cannot exist, so the server refuses it before touching the
database (PostgreSQL would refuse a NUL byte in text with an error, not a miss).
"""

from __future__ import annotations

import re
from typing import Final

__all__ = ["CLIENT_ID", "TENANT_ID"]

TENANT_ID: Final = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
CLIENT_ID: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
