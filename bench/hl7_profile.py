"""Where an ORM^O01 NW's time goes: the listener's code in-process, without the network, and the floors under it.

Usage (from the project root):

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/ris_bench_hl7 .venv/bin/python bench/hl7_profile.py
        [--messages 500] [--profile 40] [--sort tottime]

The database is prepared as bench/hl7_throughput.py prepares it (created, migrated, the bench catalog, message
tables emptied). Then, on one connection:

    apply       interfaces.services.message_receive(frame) for --messages new orders (as the listener calls it)
                wall and CPU time per message: the difference is waiting on PostgreSQL (statements and the commit)
    profile     cProfile (CPU time, not wall) of the same on a further batch, the top --profile functions
    floors      what no Python change removes: one INSERT + COMMIT round trip (synchronous_commit on), a SELECT 1
                round trip, the `hl7` parse of the message, building its ACK
"""

# ruff: noqa: E402  (Django is set up, by bench.scheduling, before its models are imported)

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import statistics
import sys
import time
from datetime import datetime
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
PROJECT_DIR = BENCH_DIR.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != BENCH_DIR]
if str(PROJECT_DIR) not in sys.path:
    sys.path.insert(0, str(PROJECT_DIR))

os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/ris_bench_hl7")

from django.db import connection
from django.utils import timezone

from bench.hl7_throughput import PATIENTS, orm_new, prepare_database, run_tag
from interfaces.hl7v2 import Reader, header, parse
from interfaces.services import message_receive
from interfaces.services.receiving import _ack


def frames(tag: str, phase: str, count: int) -> list[bytes]:
    now = f"{datetime.now():%Y%m%d%H%M%S}"
    return [
        orm_new(f"{tag}{phase}{n:07d}", f"{tag}-{phase}-{n:07d}", n % PATIENTS, now).encode("utf-8")
        for n in range(1, count + 1)
    ]


def apply_all(batch: list[bytes]) -> tuple[float, float]:
    """Wall and CPU milliseconds per message; every ACK must be AA."""
    wall, cpu = time.perf_counter(), time.process_time()
    for data in batch:
        ack = message_receive(data, peer="127.0.0.1:40000")
        if "MSA|AA|" not in ack:
            raise SystemExit(f"not applied: {ack!r}")
    return (time.perf_counter() - wall) * 1000 / len(batch), (time.process_time() - cpu) * 1000 / len(batch)


def timed(function, repeat: int) -> float:
    """Median milliseconds of `function()` over `repeat` calls."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def floors(sample: bytes) -> None:
    with connection.cursor() as cursor:
        cursor.execute("CREATE TEMP TABLE IF NOT EXISTS bench_floor (id serial PRIMARY KEY, body text)")
        cursor.execute("SHOW synchronous_commit")
        print(f"  synchronous_commit      {cursor.fetchone()[0]}")
    raw = connection.connection  # psycopg, autocommit as Django leaves it

    def insert_commit() -> None:
        with raw.transaction():
            raw.execute("INSERT INTO bench_floor (body) VALUES (%s)", ["x" * 600])

    def select_one() -> None:
        raw.execute("SELECT 1").fetchone()

    text = sample.decode("utf-8")
    reader = Reader(parse(text))
    head = header(reader)
    print(f"  INSERT + COMMIT         {timed(insert_commit, 300):.3f} ms  (one round trip each, WAL flushed)")
    print(f"  SELECT 1                {timed(select_one, 300):.3f} ms")
    print(f"  hl7 parse + header      {timed(lambda: header(Reader(parse(text))), 300):.3f} ms")
    print(f"  ACK build               {timed(lambda: _ack(head, 'AA'), 300):.3f} ms")
    print(f"  timezone.now()          {timed(timezone.now, 300) * 1000:.1f} us")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=500)
    parser.add_argument("--profile", type=int, default=40, help="functions listed")
    parser.add_argument("--sort", default="tottime", help="pstats sort key (tottime, cumulative)")
    parser.add_argument("--dump", help="write the raw profile to this file (for pstats or snakeviz)")
    args = parser.parse_args()
    prepare_database(os.environ["DATABASE_URL"], keep=False)
    tag = run_tag()
    apply_all(frames(tag, "W", 100))  # warm: caches, the patients registered
    wall, cpu = apply_all(frames(tag, "A", args.messages))
    print(f"\napply {args.messages} ORM^O01 NW in-process: {wall:.2f} ms wall, {cpu:.2f} ms CPU per message")
    print(f"  waiting on PostgreSQL ~ {wall - cpu:.2f} ms per message; {1000 / wall:.0f} msg/s on one connection")
    batch = frames(tag, "P", args.messages)
    profiler = cProfile.Profile(time.process_time)  # CPU time: waiting on PostgreSQL is not counted
    profiler.enable()
    apply_all(batch)
    profiler.disable()
    if args.dump:
        profiler.dump_stats(args.dump)
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats(args.sort).print_stats(args.profile)
    print(out.getvalue())
    print("floors:")
    floors(batch[0])
    return 0


if __name__ == "__main__":
    sys.exit(main())
