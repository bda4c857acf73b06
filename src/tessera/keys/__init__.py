"""Signing-key lifecycle: sealing at rest, the rotation schedule, the per-tenant key ring."""
