"""The time left of a long job, as the progress pages show it: from the rate so far."""

from datetime import UTC, datetime, timedelta

import pytest

from ris.progress import duration_text, estimate, progress_fields, remaining_text

START = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)


def test_nothing_done_yet_gives_no_estimate():
    assert estimate(0, 100, START, START + timedelta(seconds=30)) is None


def test_no_start_gives_no_estimate():
    assert estimate(10, 100, None, START) is None


def test_half_done_after_ten_seconds_leaves_about_ten_seconds():
    assert estimate(50, 100, START, START + timedelta(seconds=10)) == pytest.approx(10)


def test_the_estimate_follows_the_rate_so_far():
    assert estimate(25, 100, START, START + timedelta(seconds=30)) == pytest.approx(90)


def test_all_done_leaves_nothing():
    assert estimate(100, 100, START, START + timedelta(seconds=10)) == 0


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0 s"),
        (9.2, "9 s"),
        (9.6, "10 s"),
        (59, "59 s"),
        (65, "1 min 5 s"),
        (3600, "1 h 0 min"),
        (4830, "1 h 20 min"),
    ],
)
def test_durations_read_as_people_say_them(seconds, text):
    assert duration_text(seconds) == text


def test_the_remaining_text_says_about_and_left_or_nothing():
    assert remaining_text(125) == "about 2 min 5 s left"
    assert remaining_text(None) == ""


def test_the_fields_of_a_status_carry_whole_seconds_and_only_while_running():
    now = START + timedelta(seconds=10)
    running = progress_fields(done=30, total=100, started_at=START, running=True, now=now)
    assert running == {"eta_seconds": 23, "eta_text": "about 23 s left"}  # 23.3 s
    stopped = progress_fields(done=30, total=100, started_at=START, running=False, now=now)
    assert stopped == {"eta_seconds": None, "eta_text": ""}
