"""The worklist benchmark's pure pieces (bench/worklist_data.py): the department's shape, the queries, the findscu
log reader and the table. The benchmark itself never runs in the test suite."""

import itertools
from collections import Counter
from datetime import date, timedelta
from zoneinfo import ZoneInfo

from bench.worklist_data import (
    FULL_KEYS,
    FULL_SPS_KEYS,
    SCHEDULE_SIZE,
    STATIONS,
    Cell,
    Run,
    build_queries,
    findscu_times,
    history_slots,
    name_prefixes,
    schedule_slots,
    table,
    verdict,
)
from ris.text import fold

TZ = ZoneInfo("Europe/Berlin")
TODAY = date(2026, 12, 6)


def test_schedule_is_800_a_day_on_20_stations_40_each_for_30_days():
    slots = list(schedule_slots(TODAY, TZ))
    per_day = Counter(start.astimezone(TZ).date() for _station, start, _end in slots)
    per_station_day = Counter((station, start.astimezone(TZ).date()) for station, start, _end in slots)
    assert (len(slots), len(STATIONS), len(per_day)) == (SCHEDULE_SIZE, 20, 30)
    assert set(per_day.values()) == {800}
    assert set(per_station_day.values()) == {40}
    assert min(per_day) == TODAY
    assert max(per_day) == TODAY + timedelta(days=29)


def test_history_is_completed_before_today_without_overlap_in_a_room():
    slots = list(history_slots(50_000, TODAY, TZ))
    assert len(slots) == 50_000
    assert all(start.astimezone(TZ).date() < TODAY for _station, start, _end in slots)
    by_room = sorted((station, start, end) for station, start, end in slots)
    assert all(a[0] != b[0] or a[2] <= b[1] for a, b in itertools.pairwise(by_room))
    assert (TODAY - min(s.astimezone(TZ).date() for _r, s, _e in slots)).days > 2 * 365  # spread over years


def test_queries_carry_their_matching_keys_and_the_key_set():
    (a,) = build_queries("a", 1, TODAY)
    full, minimal = a.identifier("full"), a.identifier("minimal")
    sps = full.ScheduledProcedureStepSequence[0]
    assert (sps.Modality, sps.ScheduledStationAETitle, sps.ScheduledProcedureStepStartDate) == ("CT", "CT1", "20261206")
    assert set(FULL_KEYS) <= set(full.dir())
    assert set(FULL_SPS_KEYS) <= set(sps.dir())
    assert len(full.RequestedProcedureCodeSequence[0]) == 3  # sequences are asked with their items' keys
    assert len(minimal) + len(minimal.ScheduledProcedureStepSequence[0]) < 12
    days = {q.day for q in build_queries("b", 30, TODAY)}
    assert len(days) == 30  # every day of the schedule in turn
    (c,) = build_queries("c", 1, TODAY, patient_ids=["10000042"])
    (e,) = build_queries("e", 1, TODAY, name_patterns=["Smi*"])
    assert (c.identifier("minimal").PatientID, e.identifier("full").PatientName) == ("10000042", "Smi*")


def test_name_prefixes_leave_out_those_a_folding_server_matches_more_of():
    names = ["Smith"] * 6 + ["Müller"] * 6 + ["Mueller"] * 6 + ["Muñoz"] * 6 + ["Munro"] * 6 + ["Sánchez"] * 6
    # "Mun*" would match "Muñoz" too where names are folded, "Mül" has no ASCII prefix, "Sán" neither
    assert name_prefixes(names, fold, least=5, most=100) == ["Mue", "Smi"]


def test_findscu_log_gives_each_query_its_time_and_matches():
    log = "\n".join(
        [
            "21:48:55.399.530 Requesting Association",
            "21:48:55.410.328 Sending Find Request (MsgID 1)",
            "21:48:55.410.388 Request Identifiers:",
            "21:48:55.417.182 Received Find Response 1 (Pending)",
            "21:48:55.417.259 Received Find Response 2 (Pending - Warning)",
            "21:48:55.420.328 Received Final Find Response (Success)",
            "21:48:55.421.000 Sending Find Request (MsgID 2)",
            "21:48:55.431.500 Received Final Find Response (Success)",
        ]
    )
    assert findscu_times(log) == [(10.0, 2, "Success"), (10.5, 0, "Success")]


def test_table_gives_ratios_and_the_verdict_against_the_targets():
    cell = Cell(100_000, "a", "full", "findscu", matches=40)
    cell.runs = {"ris": [Run([10, 12, 14])], "wlmscpfs": [Run([600])], "orthanc": [Run([300])]}
    printed = table([cell], runs=1)
    assert "100,000" in printed
    assert "50.0x" in printed
    assert "25.0x" in printed
    assert verdict(cell) == "MISS: orthanc < 30x (client-side)"  # no capture in these runs
    cell.runs["orthanc"] = [Run([500]), Run([400]), Run([380])]  # --runs 3: the median of the runs' medians
    assert cell.median("orthanc") == 400
    assert verdict(cell) == "ok (client-side)"
    cell.mismatch = True
    assert verdict(cell) == "MISMATCH"
