"""Statistics tables: daily rollups and the space-time clusters the scan found.

A rollup row is one (day, measure, institution, department, service type) cell. Its
`value` is the sum of what the measure adds up (a count adds 1 per fact, a duration its
minutes) and `n` the number of facts, so an average over any set of cells is
`sum(value) / sum(n)` and is never an average of averages. The key columns are NOT NULL:
0 stands for "no institution" (a district-wide fact) or "no department", and "" for no
service type, so the key is a plain primary key on every database.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from yiyun.core.db import Base, IdMixin

NONE = 0  # institution_id / department_id of a fact that has none


class Rollup(Base):
    __tablename__ = "stats_rollup"
    __table_args__ = (Index("ix_stats_rollup_measure_day", "measure", "day"),)

    day: Mapped[date] = mapped_column(primary_key=True)
    measure: Mapped[str] = mapped_column(String(48), primary_key=True)
    institution_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    department_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    service_type: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[float]
    n: Mapped[int]


class Cluster(IdMixin, Base):
    """A space-time cluster the permutation scan found (kept whether significant or not)."""

    __tablename__ = "stats_cluster"
    __table_args__ = (Index("ix_stats_cluster_on", "on"),)

    syndrome: Mapped[str] = mapped_column(String(32))
    on: Mapped[date]  # the last day of the study period (prospective scan)
    start: Mapped[date]
    end: Mapped[date]
    centre_id: Mapped[int]
    site_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    radius_km: Mapped[float]
    observed: Mapped[int]
    expected: Mapped[float]
    llr: Mapped[float]
    p_value: Mapped[float]
    replicates: Mapped[int]
    alert_id: Mapped[int | None]
    created_at: Mapped[datetime]
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class Import(IdMixin, Base):
    """Daily figures brought in from a previous system (or the demo's history).

    They have no source rows here, so `yiyun stats rebuild` keeps the rollups of the
    days an import covers and recomputes the rest.
    """

    __tablename__ = "stats_import"

    measure: Mapped[str] = mapped_column(String(48), index=True)
    first_day: Mapped[date]
    last_day: Mapped[date]
    source: Mapped[str] = mapped_column(String(100))
    rows: Mapped[int]
    imported_at: Mapped[datetime]
