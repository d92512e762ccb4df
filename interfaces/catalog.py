"""What every HL7 order looks up, cached in each process: the active procedure types (with their modality) and the
enabled senders.

The cache is keyed by the stamp (interfaces.CacheStamp "catalog") that every change of a procedure type, modality or
sender rewrites in its own transaction: database triggers do (migration interfaces 0004), so no change escapes it,
whether saved, updated in bulk, made in the admin, by raw SQL or by another process. A message reads the stamp
with the patient it reads anyway (one statement), and uses the cache only when it was built on that very stamp:
the rows it serves are those the database holds in the message's transaction, in every process, right after a
change. Without a stamp row (a database no change has reached since migrating) nothing is cached.
"""

import ipaddress
import secrets
import threading
from dataclasses import dataclass, field

from django.db import connection
from django.db.models import QuerySet, Subquery
from django.utils import timezone

from interfaces.models import CacheStamp, Sender
from ris.models import ProcedureType

STAMP = "catalog"

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def network_of(entry: str) -> Network | None:
    """A sender's address entry (an address or a network) as a network; None when it is neither."""
    try:
        return ipaddress.ip_network(entry.strip(), strict=False)
    except ValueError:
        return None


def stamp_of() -> Subquery:
    """The catalog's stamp as a subquery, to read beside other rows: `.annotate(catalog_stamp=stamp_of())`."""
    return Subquery(CacheStamp.objects.filter(name=STAMP).values("value")[:1])


def stamp_read() -> int | None:
    """The catalog's stamp on its own (one statement, written as SQL: no compiler on the path of every message)."""
    table = connection.ops.quote_name(CacheStamp._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT value FROM {table} WHERE name = %s", [STAMP])  # noqa: S608 (our table name)
        row = cursor.fetchone()
    return row[0] if row else None


def current() -> "Catalog":
    """The catalog as the database holds it now: its stamp read (one statement), the rows from the cache."""
    return catalog_for(stamp_read())


def catalog_changed() -> None:
    """A new stamp, in the caller's transaction (one statement): what the triggers write on a change."""
    table = connection.ops.quote_name(CacheStamp._meta.db_table)
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (name, value, created_at, updated_at) VALUES (%s, %s, %s, %s) "  # noqa: S608
            "ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
            [STAMP, secrets.randbits(62), now, now],
        )


@dataclass(frozen=True)
class Catalog:
    """The rows as one stamp saw them. Shared by a process's threads: read only."""

    stamp: int | None
    by_code: dict[str, ProcedureType] = field(default_factory=dict)  # upper-case code -> first in the table's order
    by_cpt: dict[str, list[ProcedureType]] = field(default_factory=dict)  # CPT code -> every active one with it
    senders: dict[str, Sender] = field(default_factory=dict)  # MSH-3 -> the enabled sender of that name
    # (MSH-3, MSH-4 or "" for any, the networks of its addresses) of every enabled sender, for the closed listener
    peers: list[tuple[str, str, list[Network]]] = field(default_factory=list)

    def procedure(self, code: str) -> ProcedureType | None:
        """The active procedure with this code, in any case (as code__iexact finds it)."""
        return self.by_code.get(code.upper())

    def procedures_with_cpt(self, code: str) -> list[ProcedureType]:
        return self.by_cpt.get(code.upper(), [])

    def sender(self, name: str) -> Sender | None:
        return self.senders.get(name)


def _ordered(rows: QuerySet) -> QuerySet:
    return rows if rows.ordered else rows.order_by("pk")


def _load(stamp: int | None) -> Catalog:
    catalog = Catalog(stamp)
    for procedure in _ordered(ProcedureType.objects.select_related("modality").filter(active=True)):
        catalog.by_code.setdefault(procedure.code.upper(), procedure)
        if procedure.cpt_code:
            catalog.by_cpt.setdefault(procedure.cpt_code, []).append(procedure)
    for sender in _ordered(Sender.objects.filter(enabled=True)):
        catalog.senders.setdefault(sender.name, sender)
        networks = [net for net in map(network_of, sender.addresses or []) if net is not None]
        catalog.peers.append((sender.name, sender.facility, networks))
    return catalog


_lock = threading.Lock()
_cached: Catalog | None = None


def catalog_for(stamp: int | None) -> Catalog:
    """The catalog as the database holds it under `stamp` (read with the message's first row): from this process's
    cache when it was built on that stamp, else read now (two statements) and kept. No stamp yet: one is written
    (so that the next message can use the cache) and the rows are read."""
    global _cached
    cached = _cached
    if stamp is not None and cached is not None and cached.stamp == stamp:
        return cached
    if stamp is None:
        catalog_changed()
        stamp = stamp_read()
    fresh = _load(stamp)
    with _lock:
        _cached = fresh
    return fresh
