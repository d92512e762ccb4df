"""The pure pieces of the worklist benchmark (bench/worklist.py): the department's shape, the queries, the findscu
log reader and the table. No Django and no database here, so tests can run them in milliseconds."""

# ruff: noqa: S311  (random draws test data, not secrets)

from __future__ import annotations

import math
import random
import re
import statistics
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock
from zoneinfo import ZoneInfo

from pydicom import Dataset
from pydicom.sequence import Sequence as DicomSequence

# --- The department ---------------------------------------------------------------------------------------------

ROOMS = {"CT": 4, "MR": 3, "US": 4, "DX": 4, "MG": 2, "NM": 3}  # 20 station AE titles: CT1..CT4, MR1..MR3, ...
STATIONS = [(f"{modality}{number}", modality) for modality, count in ROOMS.items() for number in range(1, count + 1)]
SCHEDULE_DAYS = 30  # today and the 29 days after
PER_STATION_DAY = 40  # 20 stations x 40 = 800 exams a day
SCHEDULE_SIZE = len(STATIONS) * SCHEDULE_DAYS * PER_STATION_DAY  # 24,000
DAY_STARTS = clock(7)  # the first slot of a station's day
SLOT_MINUTES = 18  # 40 slots: 07:00 to 19:00
EXAM_MINUTES = 15
HISTORY_DAYS = 3 * 365  # the completed exams lie in the three years before today
HISTORY_HOURS = 16  # ... each day between 06:00 and 22:00
SCHEDULE_PATIENTS = 16_000  # the schedule's patients: the same (first) patients at every history size


def schedule_slots(today: date, tz: ZoneInfo) -> Iterator[tuple[int, datetime, datetime]]:
    """(station index, start, end) of every scheduled exam, in UTC: each station's day holds PER_STATION_DAY
    slots from 07:00 local, every day for SCHEDULE_DAYS days from today."""
    for day in range(SCHEDULE_DAYS):
        first = datetime.combine(today + timedelta(days=day), DAY_STARTS, tzinfo=tz)
        for station in range(len(STATIONS)):
            for slot in range(PER_STATION_DAY):
                start = (first + timedelta(minutes=slot * SLOT_MINUTES)).astimezone(UTC)
                yield station, start, start + timedelta(minutes=EXAM_MINUTES)


def history_slots(size: int, today: date, tz: ZoneInfo) -> Iterator[tuple[int, datetime, datetime]]:
    """(station index, start, end) of `size` completed exams spread evenly over the HISTORY_DAYS before today:
    each day's share round robin over the stations, a station's exams of a day spaced over HISTORY_HOURS (no two
    overlap in a room)."""
    per_day = math.ceil(size / HISTORY_DAYS)
    per_station_day = math.ceil(per_day / len(STATIONS))
    spacing = timedelta(hours=HISTORY_HOURS) / per_station_day
    length = min(timedelta(minutes=EXAM_MINUTES), spacing)
    first_day = today - timedelta(days=HISTORY_DAYS)
    for index in range(size):
        day = index * HISTORY_DAYS // size
        within = index - -(-day * size // HISTORY_DAYS)  # the first exam of a day is the ceiling of day x size / days
        morning = datetime.combine(first_day + timedelta(days=day), clock(6), tzinfo=tz)
        start = (morning + spacing * (within // len(STATIONS))).astimezone(UTC)
        yield within % len(STATIONS), start, start + length


# --- The queries ------------------------------------------------------------------------------------------------

CODE = ("CodeValue", "CodingSchemeDesignator", "CodeMeaning")
REFERENCE = ("ReferencedSOPClassUID", "ReferencedSOPInstanceUID")
# Every Type 1 and Type 2 return key of PS3.4 Table K.6-1 (1C and 2C included), as a modality sends them: a keyword
# with a tuple asks for a sequence with one item of those keys; Scheduled Procedure Step Status, Type 3, is asked
# by most modalities and kept.
FULL_SPS_KEYS: dict[str, tuple[str, ...] | None] = {
    "ScheduledStationAETitle": None,
    "ScheduledProcedureStepStartDate": None,
    "ScheduledProcedureStepStartTime": None,
    "Modality": None,
    "ScheduledPerformingPhysicianName": None,
    "ScheduledProcedureStepDescription": None,
    "ScheduledStationName": None,
    "ScheduledProcedureStepLocation": None,
    "ScheduledProtocolCodeSequence": CODE,
    "PreMedication": None,
    "ScheduledProcedureStepID": None,
    "RequestedContrastAgent": None,
    "ScheduledProcedureStepStatus": None,
}
FULL_KEYS: dict[str, tuple[str, ...] | None] = {
    "AccessionNumber": None,
    "ReferringPhysicianName": None,
    "ReferencedStudySequence": REFERENCE,
    "ReferencedPatientSequence": REFERENCE,
    "PatientName": None,
    "PatientID": None,
    "PatientBirthDate": None,
    "PatientSex": None,
    "PatientWeight": None,
    "ConfidentialityConstraintOnPatientDataDescription": None,
    "PatientState": None,
    "PregnancyStatus": None,
    "MedicalAlerts": None,
    "Allergies": None,
    "SpecialNeeds": None,
    "AdmissionID": None,
    "CurrentPatientLocation": None,
    "StudyInstanceUID": None,
    "RequestedProcedureID": None,
    "RequestedProcedureDescription": None,
    "RequestedProcedureCodeSequence": CODE,
    "RequestedProcedurePriority": None,
    "PatientTransportArrangements": None,
    "RequestingPhysician": None,
}
# What a scanner's quick look asks: who, which exam, when and where.
MINIMAL_KEYS: dict[str, tuple[str, ...] | None] = {"PatientName": None, "PatientID": None, "AccessionNumber": None}
MINIMAL_SPS_KEYS: dict[str, tuple[str, ...] | None] = {
    "Modality": None,
    "ScheduledStationAETitle": None,
    "ScheduledProcedureStepStartDate": None,
    "ScheduledProcedureStepStartTime": None,
    "ScheduledProcedureStepID": None,
}
KEY_SETS = {"full": (FULL_KEYS, FULL_SPS_KEYS), "minimal": (MINIMAL_KEYS, MINIMAL_SPS_KEYS)}
KINDS = {
    "a": "day + modality + station AE",
    "b": "whole day",
    "c": "patient ID",
    "d": "accession number",
    "e": "patient name wildcard",
}


def _ask(dataset: Dataset, keys: dict[str, tuple[str, ...] | None]) -> None:
    for keyword, item_keys in keys.items():
        if item_keys is None:
            setattr(dataset, keyword, None)
        else:
            item = Dataset()
            for item_keyword in item_keys:
                setattr(item, item_keyword, None)
            setattr(dataset, keyword, DicomSequence([item]))


@dataclass(frozen=True)
class Query:
    """One C-FIND: its kind ("a" to "e") and the value(s) it matches on."""

    kind: str
    day: date | None = None  # (a), (b)
    modality: str = ""  # (a)
    station: str = ""  # (a)
    value: str = ""  # (c) patient ID, (d) accession number, (e) patient name pattern

    def identifier(self, key_set: str) -> Dataset:
        """The query's identifier with the return keys of `key_set` ("full" or "minimal") and its matching keys."""
        keys, sps_keys = KEY_SETS[key_set]
        ds = Dataset()
        ds.SpecificCharacterSet = "ISO_IR 192"
        _ask(ds, keys)
        sps = Dataset()
        _ask(sps, sps_keys)
        if self.kind == "a":
            sps.Modality = self.modality
            sps.ScheduledStationAETitle = self.station
        if self.kind in "ab":
            sps.ScheduledProcedureStepStartDate = f"{self.day:%Y%m%d}"
        elif self.kind == "c":
            ds.PatientID = self.value
        elif self.kind == "d":
            ds.AccessionNumber = self.value
        elif self.kind == "e":
            ds.PatientName = self.value
        ds.ScheduledProcedureStepSequence = DicomSequence([sps])
        return ds

    def describe(self) -> str:
        if self.kind == "a":
            return f"(a) date {self.day:%Y%m%d}, modality {self.modality}, station AE {self.station}"
        if self.kind == "b":
            return f"(b) date {self.day:%Y%m%d}"
        return f"({self.kind}) {KINDS[self.kind]} {self.value}"


def build_queries(
    kind: str, count: int, today: date, *, patient_ids: Sequence[str] = (), accessions: Sequence[str] = (),
    name_patterns: Sequence[str] = (),
) -> list[Query]:  # fmt: skip
    """`count` queries of one kind, consecutive ones different: days step by 7 (all 30 in turn), stations by 3 (all
    20 in turn); patient IDs, accession numbers and name patterns taken in turn from the lists given."""
    if kind == "a":
        return [
            Query("a", today + timedelta(days=(i * 7) % SCHEDULE_DAYS), STATIONS[s][1], STATIONS[s][0])
            for i in range(count)
            for s in [(i * 3) % len(STATIONS)]
        ]
    if kind == "b":
        return [Query("b", today + timedelta(days=(i * 7) % SCHEDULE_DAYS)) for i in range(count)]
    values = {"c": patient_ids, "d": accessions, "e": name_patterns}[kind]
    if not values:
        raise ValueError(f"queries ({kind}) need values to match")
    return [Query(kind, value=values[i % len(values)]) for i in range(count)]


def pick_spread(values: Sequence[str], count: int, seed: str) -> list[str]:
    """`count` of the values, drawn without repetition (all of them if fewer), in a fixed order for a seed."""
    values = sorted(values)
    return random.Random(seed).sample(values, min(count, len(values)))


def name_prefixes(family_names: Sequence[str], fold, *, least: int, most: int) -> list[str]:
    """Three-letter prefixes for "Xyz*" queries on which case- and accent-sensitive servers (wlmscpfs) and folding
    ones (the RIS, Orthanc) must agree: every family name that folds to the prefix also starts with it as typed.
    Only prefixes that `least` to `most` of the names start with, most frequent first."""
    exact: dict[str, int] = {}
    for name in family_names:
        prefix = name[:3]
        if len(prefix) == 3 and prefix.isascii() and prefix.isalpha() and prefix[0].isupper() and prefix[1:].islower():
            exact[prefix] = exact.get(prefix, 0) + 1
    folded_counts: dict[str, int] = {}
    for name in family_names:
        key = fold(name)[:3]
        folded_counts[key] = folded_counts.get(key, 0) + 1
    agreeing = [p for p, n in exact.items() if folded_counts.get(p.lower()) == n and least <= n <= most]
    return sorted(agreeing, key=lambda p: (-exact[p], p))


# --- findscu's log: per-query times -----------------------------------------------------------------------------

# The log4cplus layout bench/worklist.py gives findscu: wall clock with microseconds, then the message.
FINDSCU_LOG_LAYOUT = "%D{%H:%M:%S.%Q} %m%n"
_STAMP = re.compile(r"^(\d\d):(\d\d):(\d\d)\.(\d{3})\.(\d{3}) (.*)$")


def findscu_times(log: str) -> list[tuple[float, int, str]]:
    """(milliseconds, pending responses, final status text) of each C-FIND in a findscu log written with
    FINDSCU_LOG_LAYOUT: from the line before the request is sent to the line of the final response."""
    results = []
    sent: float | None = None
    pending = 0
    for line in log.splitlines():
        match = _STAMP.match(line)
        if not match:
            continue
        h, m, s, ms, us, message = match.groups()
        moment = ((int(h) * 60 + int(m)) * 60 + int(s)) * 1000 + int(ms) + int(us) / 1000
        if message.startswith("Sending Find Request"):
            sent, pending = moment, 0
        elif message.startswith("Received Find Response") and "(Pending" in message:  # 0xFF01 adds a warning
            pending += 1
        elif message.startswith("Received Final Find Response") and sent is not None:
            elapsed = moment - sent
            if elapsed < 0:  # past midnight
                elapsed += 86_400_000
            status = message.partition("(")[2].rstrip(")") or message
            results.append((elapsed, pending, status))
            sent = None
    return results


# --- Results and the table --------------------------------------------------------------------------------------

SERVERS = ("ris", "wlmscpfs", "orthanc")
CLIENTS = ("pynetdicom", "findscu")


@dataclass
class Run:
    """The timed C-FINDs of one cell (query kind x key set x client x server) in one run."""

    samples_ms: list[float] = field(default_factory=list)  # client-side, per timed query
    matches: list[int] = field(default_factory=list)  # per timed query
    error: str = ""
    server_ms: list[float] = field(default_factory=list)  # server-side (bench/capture.py), per timed query
    server_error: str = ""  # why there is no server-side figure ("" when measured or no capture was made)
    window_full_ms: list[float] = field(default_factory=list)  # of each server-side time, the client's window full
    receive_buffer: int = 0  # the pynetdicom SCU's socket receive buffer, bytes as the kernel reports it (SO_RCVBUF)

    def median(self) -> float:
        return statistics.median(self.samples_ms)

    def p95(self) -> float:
        return _p95(self.samples_ms)

    def server_median(self) -> float | None:
        return statistics.median(self.server_ms) if self.server_ms else None

    def server_p95(self) -> float | None:
        return _p95(self.server_ms) if self.server_ms else None


def _p95(samples: list[float]) -> float:
    """Nearest rank."""
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


def usable(run: Run | None) -> bool:
    return run is not None and not run.error and bool(run.samples_ms)


@dataclass
class Cell:
    """One line of the table: the runs of every server, for one history size, query kind, key set and client."""

    size: int
    kind: str
    key_set: str
    client: str
    runs: dict[str, list[Run]] = field(default_factory=dict)  # server -> its run in each repetition
    matches: float | None = None  # mean expected matches per query
    mismatch: bool = False

    def median(self, server: str) -> float | None:
        """The median of the runs' medians (one run: its median); None if a run failed or none was made."""
        runs = self.runs.get(server) or []
        if not runs or not all(usable(run) for run in runs):
            return None
        return statistics.median(run.median() for run in runs)

    def p95(self, server: str) -> float | None:
        runs = self.runs.get(server) or []
        if not runs or not all(usable(run) for run in runs):
            return None
        return statistics.median(run.p95() for run in runs)

    def _server_runs(self, server: str) -> list[Run]:
        """The server's runs if every one has server-side figures, else none."""
        runs = self.runs.get(server) or []
        return runs if runs and all(usable(run) and run.server_ms for run in runs) else []

    def server_median(self, server: str) -> float | None:
        """The median of the runs' server-side medians; None unless every run has one."""
        runs = self._server_runs(server)
        return statistics.median(run.server_median() for run in runs) if runs else None

    def server_p95(self, server: str) -> float | None:
        runs = self._server_runs(server)
        return statistics.median(run.server_p95() for run in runs) if runs else None

    def server_side(self) -> bool:
        """Whether the ratios and the verdict use server-side figures: only when the RIS and every other server
        with a client-side figure in this cell have them (one basis for a line, never a mix)."""
        measured = [server for server in SERVERS if self.median(server) is not None]
        return "ris" in measured and all(self.server_median(server) is not None for server in measured)

    def figure(self, server: str) -> float | None:
        """The median the ratios and the verdict use: server-side where every server of the cell has one."""
        return self.server_median(server) if self.server_side() else self.median(server)

    def ratio(self, server: str) -> float | None:
        ris, other = self.figure("ris"), self.figure(server)
        return other / ris if ris and other else None


# The targets (full key set): RIS median at most this many ms; and at least this many times faster than
# each file-based server, at the history sizes named (None: every size).
TARGETS: dict[str, tuple[float, float | None, tuple[int, ...] | None]] = {
    "a": (40, 30, (100_000, 1_000_000)),
    "b": (700, 3, None),
    "c": (10, None, None),
    "d": (10, None, None),
}


def verdict(cell: Cell) -> str:
    """Against the issue's targets, on the server-side figures where the cell has them (it says which)."""
    if cell.mismatch:
        return "MISMATCH"
    if cell.key_set != "full" or cell.kind not in TARGETS:
        return ""
    limit, factor, sizes = TARGETS[cell.kind]
    ris = cell.figure("ris")
    if ris is None:
        return "no RIS figure"
    misses = [f"> {limit:g} ms"] if ris > limit else []
    if factor is not None and (sizes is None or cell.size in sizes):
        for server in SERVERS[1:]:
            ratio = cell.ratio(server)
            if ratio is None:
                misses.append(f"no {server} ratio")
            elif ratio < factor:
                misses.append(f"{server} < {factor:g}x")
    basis = "server-side" if cell.server_side() else "client-side"
    return f"MISS: {', '.join(misses)} ({basis})" if misses else f"ok ({basis})"


def _ms(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:,.0f}" if value >= 100 else f"{value:.1f}"


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}x"


def table(cells: list[Cell], runs: int, note: str = "") -> str:
    """One table per history size: a line per query kind x key set x client; `note` under each title. Per server
    the client-side median ("ms") and the server-side median and p95 ("srv", "p95"); "by" names the figures the
    ratios and the verdict use."""
    lines = []
    header = (
        f"{'query':<31} {'keys':<7} {'client':<10} {'match':>5} {'RIS ms':>7} {'srv':>7} {'p95':>7} "
        f"{'wlm ms':>7} {'srv':>7} {'p95':>7} {'Orth ms':>7} {'srv':>7} {'p95':>7} {'wlm/RIS':>7} {'Orth/RIS':>8} "
        f"{'by':<3} verdict"
    )
    legend = (
        "ms: client-side median; srv, p95: server-side (loopback capture) median and p95; by: the figures the ratios "
        "and the verdict use (srv, cli)"
    )
    for size in sorted({cell.size for cell in cells}):
        lines += ["", f"History {size:,} completed exams + schedule {SCHEDULE_SIZE:,}; medians of {runs} run(s)"]
        lines += [note] if note else []
        lines += [legend, header, "-" * len(header)]
        for cell in (c for c in cells if c.size == size):
            matches = (
                "-" if cell.matches is None else f"{cell.matches:.0f}" if cell.matches >= 10 else f"{cell.matches:.1f}"
            )
            figures = " ".join(
                f"{_ms(cell.median(server)):>7} {_ms(cell.server_median(server)):>7} {_ms(cell.server_p95(server)):>7}"
                for server in SERVERS
            )
            lines.append(
                f"{'(' + cell.kind + ') ' + KINDS[cell.kind]:<31} {cell.key_set:<7} {cell.client:<10} {matches:>5} "
                f"{figures} {_ratio(cell.ratio('wlmscpfs')):>7} {_ratio(cell.ratio('orthanc')):>8} "
                f"{'srv' if cell.server_side() else 'cli':<3} {verdict(cell)}"
            )
    return "\n".join(lines)
