"""Tessera: a token authority and a strict token verifier for data-heavy applications."""

from tessera.errors import TesseraError, TokenError

__all__ = ["TesseraError", "TokenError", "__version__"]

__version__ = "0.1.0.dev0"
