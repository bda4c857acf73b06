"""A realistic, deterministic event dataset: pure generation, no I/O.

The same :class:`DatasetSpec` (seed included) always yields the same rows in the same order.
Shape, chosen to look like a product's event log rather than uniform noise:

- tenants get Zipf-like shares (the first ~44 % of rows with five tenants, the last ~9 %);
- volume grows over the window (+60 % from first to last day), weekends are quieter, and
  hours follow a daytime curve; rows come out in time order, as an ingest log would;
- kinds are dominated by page views; only purchases and refunds carry an amount
  (log-normal, cents); durations are log-normal per kind;
- each tenant has a home country for about half its traffic, and a user population where a
  few heavy users produce much of it.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

__all__ = [
    "DEFAULT_TENANTS",
    "KINDS",
    "DatasetSpec",
    "Row",
    "as_datetime",
    "as_text",
    "batches",
    "tenant_shares",
]

DEFAULT_TENANTS = ("default", "acme", "globex", "initech", "umbrella")

Row = tuple[str, int, str, str, str, int | None, int]
"""(tenant_id, occurred_at in µs since the epoch, kind, country, user_ref, amount_cents,
duration_ms)."""

# kind: (weight, duration median ms, duration sigma)
_KIND_SHAPE: dict[str, tuple[float, float, float]] = {
    "page_view": (52, 1_400, 0.9),
    "click": (19, 60, 0.6),
    "search": (10, 320, 0.5),
    "api_call": (10, 85, 0.7),
    "purchase": (5, 4_500, 0.6),
    "signup": (3, 30_000, 0.5),
    "refund": (1, 2_000, 0.5),
}
KINDS = tuple(_KIND_SHAPE)
_KIND_CUM = list(itertools.accumulate(w for w, _, _ in _KIND_SHAPE.values()))

_COUNTRIES = ("US", "DE", "GB", "FR", "IN", "BR", "JP", "CA", "NL", "ES", "IT", "SE", "PL",
              "AU", "MX", "KR", "CH", "NG", "ZA", "SG")  # fmt: skip
_COUNTRY_CUM = list(itertools.accumulate(range(len(_COUNTRIES), 0, -1)))
_HOME_SHARE = 0.55

# Relative traffic per UTC hour: low at night, a daytime plateau, an evening peak.
_HOUR_WEIGHTS = (3, 2, 2, 1, 1, 2, 4, 7, 10, 12, 12, 12, 11, 12, 12, 11, 10, 10, 11, 12, 10,
                 8, 6, 4)  # fmt: skip
_HOUR_CUM = list(itertools.accumulate(_HOUR_WEIGHTS))
_HOURS = tuple(range(24))
_US_PER_HOUR = 3_600_000_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def tenant_shares(count: int) -> list[float]:
    """Zipf (s = 1) shares for ``count`` tenants, largest first."""
    raw = [1 / rank for rank in range(1, count + 1)]
    total = sum(raw)
    return [r / total for r in raw]


@dataclass(frozen=True, slots=True)
class DatasetSpec:
    rows: int
    tenants: tuple[str, ...] = DEFAULT_TENANTS
    seed: int = 7
    start: date = date(2025, 1, 1)
    days: int = 365
    batch_size: int = field(default=50_000, compare=False)

    def __post_init__(self) -> None:
        if self.rows < 0:
            raise ValueError("rows must not be negative")
        if not self.tenants or len(set(self.tenants)) != len(self.tenants):
            raise ValueError("tenants must be a non-empty list without repeats")
        if not 1 <= self.days <= 3_660:
            raise ValueError("days must be in [1, 3660]")
        if self.batch_size < 1:
            raise ValueError("batch_size must be positive")

    def rows_per_day(self) -> list[int]:
        """Rows of each day: a growth trend and quieter weekends, summing to ``rows`` exactly."""
        weights = []
        for offset in range(self.days):
            trend = 1.0 + 0.6 * offset / max(self.days - 1, 1)
            weekend = (self.start + timedelta(days=offset)).weekday() >= 5
            weights.append(trend * (0.7 if weekend else 1.0))
        total = sum(weights)
        exact = [self.rows * w / total for w in weights]
        counts = [int(x) for x in exact]
        # Largest remainder: deterministic and exact.
        by_remainder = sorted(range(self.days), key=lambda i: (counts[i] - exact[i], i))
        for i in by_remainder[: self.rows - sum(counts)]:
            counts[i] += 1
        return counts


def _amount(rng: random.Random, kind: str) -> int | None:
    if kind == "purchase":
        return round(rng.lognormvariate(7.9, 0.9))  # median ≈ 27 in the currency's unit
    if kind == "refund":
        return -round(rng.lognormvariate(7.6, 0.8))
    return None


def batches(spec: DatasetSpec) -> Iterator[list[Row]]:
    """The dataset in time order, in lists of at most ``spec.batch_size`` rows."""
    rng = random.Random(spec.seed)  # noqa: S311 - a reproducible dataset, not a secret
    tenant_cum = list(itertools.accumulate(tenant_shares(len(spec.tenants))))
    homes = {t: _COUNTRIES[i % len(_COUNTRIES)] for i, t in enumerate(spec.tenants)}
    # About 40 events per user over the window; at least 50 users per tenant.
    populations = {
        t: max(50, int(spec.rows * share / 40))
        for t, share in zip(spec.tenants, tenant_shares(len(spec.tenants)), strict=True)
    }
    durations = {k: (shape[1], shape[2]) for k, shape in _KIND_SHAPE.items()}
    first_day = datetime.combine(spec.start, datetime.min.time(), UTC)
    start_us = (first_day - _EPOCH) // timedelta(microseconds=1)
    batch: list[Row] = []
    for offset, count in enumerate(spec.rows_per_day()):
        if count == 0:
            continue
        day_us = start_us + offset * 24 * _US_PER_HOUR
        hours = rng.choices(_HOURS, cum_weights=_HOUR_CUM, k=count)
        times = sorted(day_us + h * _US_PER_HOUR + rng.randrange(_US_PER_HOUR) for h in hours)
        tenants = rng.choices(spec.tenants, cum_weights=tenant_cum, k=count)
        kinds = rng.choices(KINDS, cum_weights=_KIND_CUM, k=count)
        for at, tenant, kind in zip(times, tenants, kinds, strict=True):
            if rng.random() < _HOME_SHARE:
                country = homes[tenant]
            else:
                country = rng.choices(_COUNTRIES, cum_weights=_COUNTRY_CUM)[0]
            # Cubing a uniform draw concentrates traffic on low user numbers: heavy users.
            user = int(populations[tenant] * rng.random() ** 3)
            median, sigma = durations[kind]
            duration = round(rng.lognormvariate(0.0, sigma) * median)
            batch.append((tenant, at, kind, country, f"u{user:07d}", _amount(rng, kind), duration))
            if len(batch) >= spec.batch_size:
                yield batch
                batch = []
    if batch:
        yield batch


def as_datetime(micros: int) -> datetime:
    """µs since the epoch as an aware UTC datetime (PostgreSQL's timestamptz)."""
    return _EPOCH + timedelta(microseconds=micros)


def as_text(micros: int) -> str:
    """µs since the epoch as fixed-width ISO 8601 text ending in Z (SQLite)."""
    # isoformat is twice as fast as strftime; its "+00:00" becomes the shorter "Z".
    return (_EPOCH + timedelta(microseconds=micros)).isoformat(timespec="microseconds")[:-6] + "Z"
