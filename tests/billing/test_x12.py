"""The 837P writer (billing.x12): its files pass pyx12's 005010X222A1 validation, envelopes and sums are right,
text is cleaned into the basic character set, bad data raises ValueError, and claims are written as they come."""

import io
import re
import string
import tempfile
from collections.abc import Iterator
from dataclasses import replace
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from billing.x12 import (
    ClaimData,
    Interchange,
    Organization,
    Person,
    Provider,
    ServiceLine,
    amount,
    clean,
    write_837p,
)
from ris.validators import npi_check_digit
from tests.billing.x12_validation import x12_errors

BASIC_CHARACTERS = set(string.ascii_uppercase + string.digits + "!\"&'()+,-./;?= ") | set("*:^~\n")


def npi(first_nine: str) -> str:
    return first_nine + str(npi_check_digit(first_nine))


BILLING = Organization(
    name="Lakeside Imaging Center",
    npi="1234567893",
    tax_id="371234567",
    street="1200 Lakeshore Dr Ste 100",
    city="Chicago",
    state="IL",
    postal_code="606111234",
    contact_name="Billing Office",
    contact_phone="3125550100",
)
INTERCHANGE = Interchange(
    sender_id="RISRADIOLOGY",
    receiver_id="CLEARINGHOUSE",
    receiver_name="Clearinghouse",
    control_number=4217,
    created_at=datetime(2024, 5, 6, 7, 8),
    submitter=BILLING,
    billing_provider=BILLING,
    usage="T",
)
ALICE = Person("Morgan", "Alice", date(1971, 2, 3), "F", "42 Elm St", "Evanston", "IL", "60201")
BEN = Person("Morgan", "Ben", date(2012, 9, 30), "M", "42 Elm St", "Evanston", "IL", "60201")
CARL = Person("O'Neil", "Carl", date(1958, 12, 1), "M", "7 Pine Rd Apt 3", "Oak Park", "IL", "603021234")
DANA = Person("O'Neil", "Dana", date(1960, 6, 15), "F", "7 Pine Rd Apt 3", "Oak Park", "IL", "603021234")
RADIOLOGIST = Provider("Okafor", "Ngozi", npi("123456780"))
REFERRER = Provider("Lindqvist", "Erik", npi("198765432"))
DOS = date(2024, 5, 1)


def line(cpt: str, charge: str, pointers: tuple[int, ...] = (1,), modifiers: tuple[str, ...] = (), units: int = 1):
    return ServiceLine(cpt, modifiers, units, Decimal(charge), DOS, pointers, f"{cpt}-{charge}")


def relined(data: ClaimData, *lines: ServiceLine) -> ClaimData:
    """`data` with these lines and their sum as its total."""
    return replace(data, lines=lines, total=sum((item.charge for item in lines), Decimal(0)))


def claim(number: str, lines: tuple[ServiceLine, ...], **changes) -> ClaimData:
    """A claim of ALICE's; its total is the sum of its lines unless `changes` sets one."""
    data = ClaimData(
        claim_number=number,
        total=Decimal(0),
        place_of_service="22",
        diagnosis_codes=("R05.9", "J18.9", "M54.50"),
        subscriber=ALICE,
        relationship="18",
        patient=ALICE,
        member_id="XQJ123456789",
        group_number="GRP-77001",
        payer_name="Great Lakes Health Plan",
        payer_id="GLHP1",
        rendering_provider=RADIOLOGIST,
        lines=lines,
    )
    data = replace(data, **changes)
    return data if "total" in changes else relined(data, *data.lines)


CLAIMS = (
    # the patient is the subscriber; professional and technical components; a referring and a rendering provider
    claim(
        "CLM-2024-000001",
        (line("71046", "150.00", (1, 2), ("26",)), line("71046", "95.50", (2, 1), ("TC",)), line("74177", "1200.25")),
        referring_provider=REFERRER,
    ),
    # a child of the subscriber, no group number, no referring provider
    claim(
        "CLM-2024-000002",
        (line("70551", "850", (3,)),),
        subscriber=ALICE,
        patient=BEN,
        relationship="19",
        group_number="",
    ),
    # a spouse, secondary payer, four pointers, two units, four modifiers
    claim(
        "CLM-2024-000003",
        (line("74177", "2400.5", (4, 3, 2, 1), ("26", "59", "XU", "76"), units=2), line("71046", "0")),
        diagnosis_codes=("R10.9", "K57.30", "N20.0", "R31.9"),
        subscriber=CARL,
        patient=DANA,
        relationship="01",
        payer_responsibility="S",
        member_id="W998877665",
    ),
    # twelve diagnosis codes (one HI), no providers at all
    claim(
        "CLM-2024-000004",
        (line("70551", "850", (12, 11, 10, 9)),),
        diagnosis_codes=tuple(f"R{n:02d}.9" for n in range(50, 62)),
        subscriber=CARL,
        patient=CARL,
        rendering_provider=None,
    ),
)


def write(path: Path, claims=CLAIMS, interchange: Interchange = INTERCHANGE) -> str:
    with path.open("w", encoding="ascii") as out:
        assert write_837p(out, interchange, claims) == len(claims)
    return path.read_text(encoding="ascii")


def segments(text: str) -> list[list[str]]:
    assert text.endswith("~\n")
    return [segment.split("*") for segment in text[:-2].split("~\n")]


def test_interchange_is_valid_for_pyx12(tmp_path):
    path = tmp_path / "claims.837"
    text = write(path)
    errors = x12_errors(path)
    assert errors == [], "pyx12 rejects the 837P:\n" + "\n".join(errors) + "\n\n" + text
    assert set(text) <= BASIC_CHARACTERS


def test_segments_as_the_guide_shows_them(tmp_path):
    text = write(tmp_path / "claims.837")
    lines = text.splitlines()
    assert lines[0] == (
        "ISA*00*          *00*          *ZZ*RISRADIOLOGY   *ZZ*CLEARINGHOUSE  *240506*0708*^*00501*000004217*0*T*:~"
    )
    assert len(lines[0]) == 106
    assert lines[1:4] == [
        "GS*HC*RISRADIOLOGY*CLEARINGHOUSE*20240506*0708*4217*X*005010X222A1~",
        "ST*837*0001*005010X222A1~",
        "BHT*0019*00*4217-1*20240506*0708*CH~",
    ]
    for expected in (
        "NM1*41*2*LAKESIDE IMAGING CENTER*****46*RISRADIOLOGY~",
        "PER*IC*BILLING OFFICE*TE*3125550100~",
        "NM1*40*2*CLEARINGHOUSE*****46*CLEARINGHOUSE~",
        "HL*1**20*1~",
        "NM1*85*2*LAKESIDE IMAGING CENTER*****XX*1234567893~",
        "REF*EI*371234567~",
        "SBR*P*18*GRP-77001******CI~",
        "SBR*P********CI~",  # a child: no SBR02, no group number
        "SBR*S**GRP-77001******CI~",  # a spouse: no SBR02
        "NM1*IL*1*MORGAN*ALICE****MI*XQJ123456789~",
        "DMG*D8*19710203*F~",
        "NM1*PR*2*GREAT LAKES HEALTH PLAN*****PI*GLHP1~",
        "PAT*19~",
        "NM1*QC*1*MORGAN*BEN~",
        "CLM*CLM-2024-000001*1445.75***22:B:1*Y*A*Y*Y~",
        "HI*ABK:R059*ABF:J189*ABF:M5450~",
        f"NM1*DN*1*LINDQVIST*ERIK****XX*{REFERRER.npi}~",
        f"NM1*82*1*OKAFOR*NGOZI****XX*{RADIOLOGIST.npi}~",
        "SV1*HC:71046:26*150*UN*1***1:2~",
        "SV1*HC:71046:TC*95.5*UN*1***2:1~",
        "SV1*HC:74177:26:59:XU:76*2400.5*UN*2***4:3:2:1~",
        "SV1*HC:71046*0*UN*1***1~",
        "DTP*472*D8*20240501~",
        "REF*6R*74177-1200.25~",
        "HI*" + "*".join(["ABK:R509"] + [f"ABF:R{n}9" for n in range(51, 62)]) + "~",
    ):
        assert expected in lines


def test_envelope_control_numbers_and_counts(tmp_path):
    found = segments(write(tmp_path / "claims.837"))
    by_id = {segment[0]: segment for segment in found if segment[0] in ("ISA", "IEA", "GS", "GE", "ST", "SE")}
    assert by_id["ISA"][13] == by_id["IEA"][2] == "000004217"
    assert by_id["GS"][6] == by_id["GE"][2] == "4217"
    assert by_id["ST"][2] == by_id["SE"][2] == "0001"
    ids = [segment[0] for segment in found]
    assert int(by_id["SE"][1]) == ids.index("SE") - ids.index("ST") + 1
    assert by_id["GE"][1] == by_id["IEA"][1] == "1"
    assert ids.count("ISA") == ids.count("GS") == ids.count("ST") == 1
    assert ids.count("CLM") == len(CLAIMS)


def test_claims_beyond_the_guides_limit_per_set_start_a_new_transaction_set(tmp_path):
    path = tmp_path / "claims.837"
    with path.open("w", encoding="ascii") as out:
        assert write_837p(out, INTERCHANGE, CLAIMS * 3, claims_per_set=len(CLAIMS)) == 3 * len(CLAIMS)
    assert x12_errors(path) == []
    found = segments(path.read_text(encoding="ascii"))
    ids = [segment[0] for segment in found]
    starts = [index for index, name in enumerate(ids) if name == "ST"]
    ends = [index for index, name in enumerate(ids) if name == "SE"]
    assert [found[i][2] for i in starts] == [found[i][2] for i in ends] == ["0001", "0002", "0003"]
    assert [int(found[end][1]) for end in ends] == [end - start + 1 for start, end in zip(starts, ends, strict=True)]
    assert found[ids.index("GE")][1] == "3"
    for start, end in zip(starts, ends, strict=True):
        assert ids[start:end].count("CLM") == len(CLAIMS)
        assert found[start + 1 + ids[start + 1 :].index("HL")][1] == "1"  # each set numbers its levels from 1


def test_hierarchy_links_each_patient_to_its_subscriber(tmp_path):
    found = segments(write(tmp_path / "claims.837"))
    hls = [segment for segment in found if segment[0] == "HL"]
    assert [int(hl[1]) for hl in hls] == list(range(1, len(hls) + 1))
    levels = {hl[1]: hl for hl in hls}
    assert hls[0][1:] == ["1", "", "20", "1"]
    for index, segment in enumerate(found):
        if segment[0] != "HL" or segment[3] == "20":
            continue
        if segment[3] == "22":
            assert segment[2] == "1"
            sbr = found[index + 1]
            assert sbr[0] == "SBR"
            assert segment[4] == ("0" if sbr[2] == "18" else "1")
            assert found[index + 2][:2] == ["NM1", "IL"]
            after = found[index + 3][0]  # 2010BA has N3, N4 and DMG only when the patient is the subscriber
            assert after == ("N3" if sbr[2] == "18" else "NM1")
        else:
            assert segment[3] == "23"
            assert segment[4] == "0"
            parent = levels[segment[2]]
            assert parent[3] == "22"
            assert parent[4] == "1"
            assert found[index + 1][0] == "PAT"
    assert sum(hl[3] == "23" for hl in hls) == 2  # the child and the spouse


def test_each_claim_total_is_the_sum_of_its_lines(tmp_path):
    found = segments(write(tmp_path / "claims.837"))
    totals: list[tuple[Decimal, Decimal]] = []
    for segment in found:
        if segment[0] == "CLM":
            totals.append((Decimal(segment[2]), Decimal(0)))
        elif segment[0] == "SV1":
            total, lines = totals[-1]
            totals[-1] = (total, lines + Decimal(segment[2]))
    assert len(totals) == len(CLAIMS)
    assert all(total == lines for total, lines in totals)


@pytest.mark.parametrize(
    ("change", "reported"),
    [
        (lambda text: re.sub(r"SE\*(\d+)\*", lambda m: f"SE*{int(m[1]) + 1}*", text), "SE count"),
        (lambda text: text.replace("N4*CHICAGO*IL*606111234~\n", ""), "(N4) missing"),
        (lambda text: text.replace("HI*ABK:R059*ABF:J189*ABF:M5450~\n", ""), "(HI) missing"),
        (lambda text: text.replace("*22:B:1*Y*A*Y*Y~", "*22:B:1~", 1), "CLM06"),
        (lambda text: text.replace("IEA*1*000004217", "IEA*1*000004218"), "does not match"),
        (lambda text: text.replace("MORGAN*ALICE", "MÖRGAN*ALICE", 1), "UnicodeDecodeError"),
        (lambda text: text[: len(text) // 2], "missing"),
        (lambda text: "not an X12 file at all", "does not look like an X12"),
    ],
    ids=["se-count", "no-n4", "no-hi", "clm-cut", "iea-control", "non-ascii", "truncated", "not-x12"],
)
def test_helper_reports_broken_files(tmp_path, change, reported):
    good = tmp_path / "good.837"
    broken = tmp_path / "broken.837"
    broken.write_text(change(write(good)), encoding="utf-8")
    errors = x12_errors(broken)
    assert errors, "pyx12 accepted a broken file"
    assert any(reported in error for error in errors), errors


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (Decimal("150.00"), "150"),
        (Decimal("150.50"), "150.5"),
        (Decimal("150.25"), "150.25"),
        (Decimal("0"), "0"),
        (Decimal("100"), "100"),
        (Decimal("1200.250"), "1200.25"),
    ],
)
def test_amounts_are_x12_decimals(value, expected):
    assert amount(value) == expected


@pytest.mark.parametrize("value", [Decimal("150.255"), Decimal("-1"), Decimal("NaN")])
def test_amounts_x12_cannot_carry(value):
    with pytest.raises(ValueError, match="at most two decimals"):
        amount(value)


@pytest.mark.parametrize(
    ("value", "max_len", "expected"),
    [
        ("Smith*Jones~", 60, "SMITH JONES"),
        ("a:b^c\nd\r\te", 60, "A B C D E"),
        ("Müller-Lüdenscheidt", 60, "MULLER-LUDENSCHEIDT"),
        ("Øre Æbelø Strauß", 60, "ORE AEBELO STRAUSS"),
        ("José  Núñez ", 60, "JOSE NUNEZ"),
        ("Apt #5 \ufe61 full\uff1awidth\uff5e", 60, "APT 5 FULL WIDTH"),  # compatibility forms of the separators, too
        ("王 Li", 60, "LI"),
        ("x" * 70, 35, "X" * 35),
        ("ab cd", 3, "AB"),
    ],
)
def test_text_is_cleaned_into_the_basic_character_set(value, max_len, expected):
    assert clean(value, max_len) == expected


def lines_of(count: int) -> tuple[ServiceLine, ...]:
    return tuple(replace(line("71046", "10"), control_number=str(number)) for number in range(count))


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (claim("C1", ()), "1 to 50"),
        (claim("C1", lines_of(51)), "1 to 50"),
        (claim("C1", (line("71046", "10"),), diagnosis_codes=()), "1 to 12 diagnosis"),
        (claim("C1", (line("71046", "10"),), diagnosis_codes=tuple(f"R{n}.9" for n in range(50, 63))), "1 to 12"),
        (claim("C1", (line("71046", "10"),), diagnosis_codes=("R05.9", "hello")), "not an ICD-10-CM"),
        (claim("C1", (line("71046", "10", (4,)),)), "outside the claim's diagnosis codes"),
        (claim("C1", (line("71046", "10", (0,)),)), "outside the claim's diagnosis codes"),
        (claim("C1", (line("71046", "10", (1, 2, 3, 1, 2)),), diagnosis_codes=("R05.9",) * 5), "1 to 4 distinct"),
        (claim("C1", (line("71046", "10", ()),)), "1 to 4 distinct"),
        (claim("C1", (line("71046", "10", (1, 1)),)), "1 to 4 distinct"),
        (claim("C1", (line("71046", "10", modifiers=("26", "TC", "59", "XU", "76")),)), "at most 4"),
        (claim("C1", (line("71046", "10", modifiers=("2",)),)), "at most 4"),
        (claim("C1", (line("7104", "10"),)), "not a CPT"),
        (claim("C1", (line("71046", "10", units=0),)), "units"),
        (claim("C1", (line("71046", "10"),), total=Decimal("11")), "not the sum"),
        (claim("C1", (line("71046", "10.005"),)), "at most two decimals"),
        (claim("C1", (line("71046", "10"),), relationship="99"), "relationship"),
        (claim("C1", (line("71046", "10"),), patient=BEN), "patient is not the subscriber"),
        (claim("C1", (line("71046", "10"),), place_of_service="2"), "place of service"),
        (claim("C1", (line("71046", "10"),), payer_responsibility="X"), "payer responsibility"),
        (claim("C1", (line("71046", "10"),), rendering_provider=Provider("Okafor", "N", "1234567890")), "check digit"),
        (claim("C1", (line("71046", "10"),), referring_provider=Provider("Okafor", "N", "12345")), "10 digits"),
        (
            claim(
                "C1",
                (line("71046", "10"),),
                subscriber=replace(ALICE, family_name="王"),
                patient=BEN,
                relationship="19",
            ),
            "family name",
        ),
        (claim("C1", (line("71046", "10"),), patient=replace(BEN, city="Ö"), relationship="19"), "city"),
        (
            claim(
                "C1", (line("71046", "10"),), patient=replace(ALICE, state="Il"), subscriber=replace(ALICE, state="Il")
            ),
            "state",
        ),
        (claim("C1", (line("71046", "10"),), patient=replace(BEN, postal_code="6020"), relationship="19"), "ZIP"),
        (claim("C1", (line("71046", "10"),), patient=replace(BEN, sex="X"), relationship="19"), "sex"),
        (claim("C1", (line("71046", "10"),), member_id="*"), "member id"),
        (claim("~", (line("71046", "10"),)), "claim number"),
        (claim("C" * 39, (line("71046", "10"),)), "longer than 38"),
        (claim("C1", (replace(line("71046", "10"), control_number="9" * 51),)), "longer than 50"),
    ],
)
def test_data_x12_cannot_carry_raises(bad, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        write_837p(io.StringIO(), INTERCHANGE, [CLAIMS[0], bad])


@pytest.mark.parametrize(
    ("interchange", "message"),
    [
        (replace(INTERCHANGE, control_number=0), "control number"),
        (replace(INTERCHANGE, control_number=1_000_000_000), "control number"),
        (replace(INTERCHANGE, sender_id="A" * 16), "longer than 15"),  # an identifier is never cut
        (replace(INTERCHANGE, receiver_id="Z"), "receiver id"),
        (replace(INTERCHANGE, usage="X"), "usage"),
        (replace(INTERCHANGE, submitter=replace(BILLING, contact_phone="")), "contact phone"),
        (replace(INTERCHANGE, billing_provider=replace(BILLING, tax_id="12345")), "tax id"),
        (replace(INTERCHANGE, billing_provider=replace(BILLING, npi="1234567890")), "check digit"),
    ],
)
def test_envelope_data_x12_cannot_carry_raises(interchange, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        write_837p(io.StringIO(), interchange, CLAIMS)


def test_identifiers_are_cleaned_but_never_cut(tmp_path):
    odd = replace(relined(CLAIMS[0], line("70551", "850")), claim_number="clm*2024:7~", member_id="xqj^123\n")
    text = write(tmp_path / "ids.837", [odd])
    assert "CLM*CLM 2024 7*850***22:B:1*Y*A*Y*Y~" in text
    assert "NM1*IL*1*MORGAN*ALICE****MI*XQJ 123~" in text
    assert x12_errors(tmp_path / "ids.837") == []


def test_no_claims_raises_before_writing_anything():
    out = io.StringIO()
    with pytest.raises(ValueError, match="at least one claim"):
        write_837p(out, INTERCHANGE, iter(()))
    assert out.getvalue() == ""


ODD_CHARACTERS = "*~:^\n\r\t|#@%`{}ÄéñßøØÆœŁıЖё漢字\ufe61\uff1a\uff5e\uff3eﬀ①\u0301\u00a0"


def free_text(min_ascii: int, max_size: int = 70) -> st.SearchStrategy[str]:
    """Arbitrary text (separators, control characters, any Unicode) behind `min_ascii` plain letters."""
    tail = st.text(st.one_of(st.sampled_from(ODD_CHARACTERS), st.characters()), max_size=max_size)
    return st.builds(str.__add__, st.text(string.ascii_letters, min_size=min_ascii, max_size=3), tail)


@st.composite
def odd_claims(draw) -> tuple[Interchange, list[ClaimData]]:
    def person(base: Person) -> Person:
        return replace(
            base,
            family_name=draw(free_text(1)),
            given_name=draw(st.one_of(st.just(""), free_text(0))),
            street=draw(free_text(1, 90)),
            city=draw(free_text(2)),
        )

    provider = replace(BILLING, name=draw(free_text(1, 90)), street=draw(free_text(1)), city=draw(free_text(2)))
    interchange = replace(
        INTERCHANGE,
        receiver_name=draw(free_text(1)),
        submitter=replace(provider, contact_name=draw(free_text(0))),
        billing_provider=provider,
    )
    subscriber = person(ALICE)
    child = person(BEN)
    doctor = Provider(draw(free_text(1)), draw(free_text(0)), RADIOLOGIST.npi)
    claims = [
        replace(
            CLAIMS[0],
            subscriber=subscriber,
            patient=subscriber,
            group_number=draw(free_text(0)),
            payer_name=draw(free_text(1)),
            referring_provider=doctor,
        ),
        replace(CLAIMS[1], subscriber=subscriber, patient=child, payer_name=draw(free_text(1))),
    ]
    return interchange, claims


@given(odd_claims())
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_any_text_still_makes_a_valid_file(case):
    interchange, claims = case
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "odd.837"
        text = write(path, claims, interchange)
        errors = x12_errors(path)
    assert errors == [], "pyx12 rejects the 837P:\n" + "\n".join(errors) + "\n\n" + text
    assert set(text) <= BASIC_CHARACTERS


def test_claims_are_written_as_they_come():
    out = io.StringIO()

    def many() -> Iterator[ClaimData]:
        for number in range(2000):
            if number:  # the claim before this one is already in the output when the next one is asked for
                assert out.getvalue().endswith(f"REF*6R*{number - 1}~\n")
            first = CLAIMS[number % 2]
            yield replace(
                relined(first, replace(first.lines[0], control_number=str(number))), claim_number=f"C{number}"
            )

    assert write_837p(out, INTERCHANGE, many()) == 2000
    found = segments(out.getvalue())
    assert sum(segment[0] == "CLM" for segment in found) == 2000
    ids = [segment[0] for segment in found]
    assert int(found[ids.index("SE")][1]) == ids.index("SE") - ids.index("ST") + 1
