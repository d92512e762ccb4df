"""The byte-built worklist responses (worklist.encode) against pydicom, the reference: for every return key, every
character set the worklist answers in, empty and multi-valued elements and sequences, in both transfer syntaxes
the SCP writes itself, each response is the bytes pydicom writes for `ResponsePlan.build`'s Dataset and decodes
to the same dataset. What the encoder does not write (another transfer syntax, a key without a single VR, a
value pydicom would change) is left to pydicom."""

from datetime import date, datetime
from decimal import Decimal
from io import BytesIO
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from pydicom import Dataset
from pydicom.filereader import read_dataset
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
)
from pynetdicom import dsutils, service_class

from worklist import encode, scp
from worklist.selectors import WORKLIST_ROW
from worklist.translate import AllergyFact, ExamFacts, PatientFacts, ResponsePlan, full_key_query, worklist_item

BERLIN = ZoneInfo("Europe/Berlin")
SYNTAXES = {ImplicitVRLittleEndian: True, ExplicitVRLittleEndian: False}
# The query's Specific Character Set -> the response's, for a Latin-1 name and for a Japanese one: a single-byte
# set is kept when every value fits it, anything else is answered in UTF-8 (worklist.translate.ResponsePlan).
CHARSETS = [
    None,
    "ISO_IR 6",
    "ISO_IR 100",
    "ISO_IR 192",
    "ISO 2022 IR 87",
    "ISO_IR 13",
    "ISO 2022 IR 13\\ISO 2022 IR 87",
]
NAMES = {
    "latin": ("Müller", "Jürgen"),
    "japanese": ("山田", "太郎"),
    "katakana": ("ﾔﾏﾀﾞ", "ﾀﾛｳ"),
    "ascii": ("Smith", "Jo"),
}


def a_row(family: str = "Müller", given: str = "Jürgen", **changes) -> dict:
    row = {name: "" for name in WORKLIST_ROW}
    row.update(
        id=1,
        patient_id=1,
        status="SCHEDULED",
        scheduled_start=datetime(2026, 12, 7, 9, 30, tzinfo=BERLIN),
        requested_procedure_id="RP1",
        scheduled_procedure_step_id="SPS1",
        study_instance_uid="1.2.826.0.1.3680043.8.498.1",  # odd length: padded with NUL
        accession_number="ACC123",
        priority="ROUTINE",
        mrn="MRN1",
        mrn_issuer="HOSP",
        birth_date=date(1970, 1, 2),
        sex="F",
        patient_family_name=family,
        patient_given_name=given,
        physician_family_name="Okafor",
        physician_given_name="Chinwe",
        procedure_code="CTHEAD",
        procedure_name="CT Head",
        modality="CT",
        station_ae_title="CT1",
        station_name="CT 1",
        location_code="R1",
        reason="Headache",
    )
    row.update(changes)
    return row


FULL_FACTS = {
    "patient": PatientFacts(
        allergies=(AllergyFact("Penicillin", "hives"), AllergyFact("Iohexol", "rash", "Iodinated contrast")),
        alerts=("Pacemaker", "Fall risk"),  # multi-valued LO
        special_needs=("Interpreter",),
        states=("Isolation",),
        weight_kg=Decimal("72.5"),
        height_cm=Decimal("168"),
        pregnancy=2,  # US
    ),
    "exam": ExamFacts(
        protocol_code="P1",
        protocol_name="Head standard",
        contrast="Iodinated contrast",
        notes=("Check creatinine", "Second line\twith a tab"),  # LT, CR LF
    ),
}
NO_FACTS: dict = {"patient": None, "exam": None}  # zero-length Type 2 elements: weight, size, pregnancy, allergies


def values_for(row: dict, facts: dict) -> dict:
    return worklist_item(
        row, local_start=row["scheduled_start"], coding_scheme="99RIS", protocol_scheme="99RISPROT", **facts
    )


def every_key_query(charset: str | None, *, whole_item: bool = False, extra: tuple[str, ...] = ()) -> Dataset:
    """Every return key the SCP knows; `extra` keys it does not know (answered zero length, status FF01)."""
    query = full_key_query(charset, whole_item=whole_item)
    for keyword in extra:
        setattr(query, keyword, None)
    return query


def pydicom_bytes(plan: ResponsePlan, values: dict, implicit_vr: bool) -> tuple[bytes, bool]:
    answer, unsupported = plan.build(values)
    return dsutils.encode(answer, implicit_vr, True), unsupported


def decoded(data: bytes, implicit_vr: bool) -> Dataset:
    return read_dataset(BytesIO(data), implicit_vr, True)


@pytest.mark.parametrize("syntax", list(SYNTAXES))
@pytest.mark.parametrize("charset", CHARSETS)
@pytest.mark.parametrize("name", list(NAMES))
@pytest.mark.parametrize("facts", [FULL_FACTS, NO_FACTS], ids=["facts", "empty"])
@pytest.mark.parametrize("whole_item", [False, True], ids=["keys", "whole-item"])
def test_every_return_key_is_written_as_pydicom_writes_it(syntax, charset, name, facts, whole_item):
    plan = ResponsePlan(every_key_query(charset, whole_item=whole_item, extra=("EthnicGroup", "PatientComments")))
    values = values_for(a_row(*NAMES[name]), facts)
    implicit_vr = SYNTAXES[syntax]
    reference, reference_unsupported = pydicom_bytes(plan, values, implicit_vr)

    written, unsupported = encode.ResponseEncoder(plan, syntax).encode(values, plan.charset(values))

    assert written == reference
    assert unsupported == reference_unsupported is True  # EthnicGroup and PatientComments: not kept by the RIS
    assert decoded(written, implicit_vr).to_json_dict() == plan.build(values)[0].to_json_dict()


@pytest.mark.parametrize("syntax", list(SYNTAXES))
def test_the_response_character_set_follows_the_values(syntax):
    """A Latin-1 query about a Japanese name is answered in UTF-8; a katakana name in an ISO_IR 13 query keeps it."""
    implicit_vr = SYNTAXES[syntax]
    for charset, name, expected in [
        ("ISO_IR 100", "latin", "ISO_IR 100"),
        ("ISO_IR 100", "japanese", "ISO_IR 192"),
        ("ISO_IR 13", "katakana", "ISO_IR 13"),
        ("ISO_IR 13", "japanese", "ISO_IR 192"),  # kanji are not JIS X 0201 (pydicom would write "?" for them)
        ("ISO 2022 IR 87", "japanese", "ISO_IR 192"),
    ]:
        plan = ResponsePlan(every_key_query(charset))
        values = values_for(a_row(*NAMES[name]), FULL_FACTS)
        written, _ = encode.ResponseEncoder(plan, syntax).encode(values, plan.charset(values))
        answer = decoded(written, implicit_vr)
        assert answer.SpecificCharacterSet == expected
        assert str(answer.PatientName) == "^".join(NAMES[name])


def test_only_the_keys_asked_and_the_offset_are_written():
    query = Dataset()
    query.PatientID = ""
    query.ScheduledProcedureStepSequence = [Dataset()]
    query.ScheduledProcedureStepSequence[0].Modality = "CT"
    plan = ResponsePlan(query)
    values = values_for(a_row(), NO_FACTS)

    written, unsupported = encode.ResponseEncoder(plan, ImplicitVRLittleEndian).encode(values, plan.charset(values))

    answer = decoded(written, True)
    assert [element.keyword for element in answer] == [
        "SpecificCharacterSet",
        "TimezoneOffsetFromUTC",
        "PatientID",
        "ScheduledProcedureStepSequence",
    ]
    assert answer.TimezoneOffsetFromUTC == "+0100"
    assert [element.keyword for element in answer.ScheduledProcedureStepSequence[0]] == ["Modality"]
    assert unsupported is False


TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=80)


@hypothesis_settings(max_examples=300, deadline=None)
@given(
    family=TEXT,
    given_name=TEXT,
    reason=TEXT,
    procedure=TEXT,
    notes=st.lists(TEXT, max_size=3),
    alerts=st.lists(TEXT, max_size=4),
    weight=st.none() | st.decimals(min_value=0, max_value=500, places=3),
    pregnancy=st.none() | st.integers(min_value=1, max_value=4),
    charset=st.sampled_from(CHARSETS),
    syntax=st.sampled_from(list(SYNTAXES)),
)
def test_names_and_texts_are_written_as_pydicom_writes_them(
    family, given_name, reason, procedure, notes, alerts, weight, pregnancy, charset, syntax
):
    facts = {
        "patient": PatientFacts(alerts=tuple(alerts), weight_kg=weight, pregnancy=pregnancy),
        "exam": ExamFacts(notes=tuple(notes)),
    }
    values = values_for(a_row(family, given_name, reason=reason, procedure_name=procedure), facts)
    plan = ResponsePlan(every_key_query(charset))
    reference, reference_unsupported = pydicom_bytes(plan, values, SYNTAXES[syntax])

    written, unsupported = encode.ResponseEncoder(plan, syntax).encode(values, plan.charset(values))

    assert (written, unsupported) == (reference, reference_unsupported)


@pytest.mark.parametrize("syntax", [ExplicitVRBigEndian, DeflatedExplicitVRLittleEndian, "1.2.840.10008.1.2.4.50"])
def test_other_transfer_syntaxes_are_left_to_pydicom(syntax):
    with pytest.raises(encode.NotEncodable):
        encode.ResponseEncoder(ResponsePlan(every_key_query("ISO_IR 192")), syntax)


def test_a_key_without_a_single_vr_is_left_to_pydicom_in_explicit_vr():
    query = every_key_query("ISO_IR 192", extra=("SmallestImagePixelValue",))  # "US or SS"
    plan = ResponsePlan(query)
    values = values_for(a_row(), NO_FACTS)
    with pytest.raises(encode.NotEncodable):
        encode.ResponseEncoder(plan, ExplicitVRLittleEndian)
    written, _ = encode.ResponseEncoder(plan, ImplicitVRLittleEndian).encode(values, plan.charset(values))
    assert written == pydicom_bytes(plan, values, True)[0]  # implicit VR writes no VR: an empty one is just a tag


def test_a_value_pydicom_would_rewrite_is_left_to_it():
    plan = ResponsePlan(every_key_query("ISO_IR 192"))
    values = values_for(a_row(), NO_FACTS)
    encoder = encode.ResponseEncoder(plan, ExplicitVRLittleEndian)
    for keyword, value in [("PatientName", "Doe^Jo=ド^ジョ"), ("PatientWeight", " 72"), ("PregnancyStatus", 70000)]:
        with pytest.raises(encode.NotEncodable):
            encoder.encode({**values, keyword: value}, plan.charset(values))


# --- the adapter ---------------------------------------------------------------------------------------------


class Context:
    def __init__(self, transfer_syntax: str):
        self.transfer_syntax = transfer_syntax


def test_the_scp_installs_the_adapter_at_pynetdicoms_encode_call():
    scp.build_ae("RIS_MWL")
    assert service_class.encode is encode.encode_identifier
    assert encode.installed()


@pytest.mark.parametrize("syntax", list(SYNTAXES))
def test_the_adapter_sends_the_bytes_without_encoding_them_again(syntax, monkeypatch):
    plan = ResponsePlan(every_key_query("ISO_IR 100"))
    values = values_for(a_row(), FULL_FACTS)
    implicit_vr = SYNTAXES[syntax]
    written, _ = encode.ResponseEncoder(plan, syntax).encode(values, plan.charset(values))
    calls = []
    monkeypatch.setattr(encode, "_pydicom_encode", lambda *args: calls.append(args))

    sent = encode.encode_identifier(encode.EncodedIdentifier(written, implicit_vr=implicit_vr), implicit_vr, True)

    assert sent is written
    assert calls == []


def test_the_adapter_reencodes_bytes_written_for_another_transfer_syntax():
    plan = ResponsePlan(every_key_query("ISO_IR 192"))
    values = values_for(a_row(*NAMES["japanese"]), FULL_FACTS)
    implicit, _ = encode.ResponseEncoder(plan, ImplicitVRLittleEndian).encode(values, plan.charset(values))
    identifier = encode.EncodedIdentifier(implicit, implicit_vr=True)

    explicit = encode.encode_identifier(identifier, False, True)
    big_endian = encode.encode_identifier(identifier, False, False)

    assert explicit == pydicom_bytes(plan, values, False)[0]
    assert big_endian == dsutils.encode(plan.build(values)[0], False, False)


def test_any_other_dataset_goes_to_pydicom_unchanged():
    answer, _ = ResponsePlan(every_key_query("ISO_IR 192")).build(values_for(a_row(), NO_FACTS))
    assert encode.encode_identifier(answer, True, True, False) == dsutils.encode(answer, True, True, False)


def test_the_handler_writes_bytes_only_where_the_adapter_sends_them(monkeypatch):
    plan = ResponsePlan(every_key_query("ISO_IR 192"))
    event = type("Event", (), {"context": Context(ExplicitVRLittleEndian)})()
    encode.install()
    assert isinstance(scp._encoder(event, plan), encode.ResponseEncoder)
    assert scp._encoder(type("Event", (), {"context": Context(ExplicitVRBigEndian)})(), plan) is None
    assert scp._encoder(object(), plan) is None  # a bare event: no transfer syntax known
    monkeypatch.setattr(service_class, "encode", dsutils.encode)  # pynetdicom without the adapter
    assert scp._encoder(event, plan) is None


def test_a_match_the_encoder_cannot_write_is_answered_by_pydicom():
    plan = ResponsePlan(every_key_query("ISO_IR 192"))
    encoder = encode.ResponseEncoder(plan, ExplicitVRLittleEndian)
    values = {**values_for(a_row(), NO_FACTS), "PatientName": "Doe^Jo=ド^ジョ"}

    response, unsupported = scp._response(plan, encoder, values)

    assert not isinstance(response, encode.EncodedIdentifier)
    assert (response, unsupported) == plan.build(values)


# --- command sets ----------------------------------------------------------------------------------------------


def command_sets() -> list[Dataset]:
    """The command sets the SCP sends: C-FIND, C-ECHO and N-CREATE/N-SET responses, with and without a data set,
    a comment, odd and even UIDs."""
    from pynetdicom.dimse_messages import C_ECHO_RSP, C_FIND_RSP, N_CREATE_RSP, N_SET_RSP
    from pynetdicom.dimse_primitives import C_ECHO, C_FIND, N_CREATE, N_SET

    made = []
    for status, identifier in [(0xFF00, BytesIO(b"\x08\x00")), (0x0000, None), (0xA900, None), (0xFE00, None)]:
        primitive = C_FIND()
        primitive.MessageIDBeingRespondedTo = 7
        primitive.AffectedSOPClassUID = "1.2.840.10008.5.1.4.31"
        primitive.Status = status
        primitive.Identifier = identifier
        message = C_FIND_RSP()
        message.primitive_to_message(primitive)
        made.append(message.command_set)
    echo = C_ECHO()
    echo.MessageIDBeingRespondedTo = 65535
    echo.AffectedSOPClassUID = "1.2.840.10008.1.1"
    echo.Status = 0
    message = C_ECHO_RSP()
    message.primitive_to_message(echo)
    made.append(message.command_set)
    for primitive, message in [(N_CREATE(), N_CREATE_RSP()), (N_SET(), N_SET_RSP())]:
        primitive.MessageIDBeingRespondedTo = 3
        primitive.AffectedSOPClassUID = "1.2.840.10008.3.1.2.3.3"
        primitive.AffectedSOPInstanceUID = "1.2.826.0.1.3680043.8.498.12345"
        primitive.Status = 0x0106
        primitive.ErrorComment = "Odd comment"
        message.primitive_to_message(primitive)
        made.append(message.command_set)
    return made


def test_command_sets_are_written_as_pydicom_writes_them():
    for command_set in command_sets():
        assert encode.command_bytes(command_set) == dsutils.encode(command_set, True, True)


def test_a_command_set_with_an_attribute_list_goes_to_pydicom():
    command_set = command_sets()[-1]
    command_set.AttributeIdentifierList = [0x00100010]  # AT
    with pytest.raises(encode.NotEncodable):
        encode.command_bytes(command_set)
    assert encode.encode_command(command_set, True, True) == dsutils.encode(command_set, True, True)


def test_the_scp_has_pynetdicom_write_command_sets_here():
    from pynetdicom import dimse_messages

    scp.build_ae("RIS_MWL")
    assert dimse_messages.encode is encode.encode_command


def test_queries_asking_the_same_keys_share_their_compiled_fields():
    first, second = every_key_query("ISO_IR 100"), every_key_query("ISO_IR 100")
    second.AccessionNumber = "A-1"  # another value, the same keys
    fewer = every_key_query("ISO_IR 100")
    del fewer.PatientWeight

    fields = encode.ResponseEncoder(ResponsePlan(first), ImplicitVRLittleEndian).fields
    assert encode.ResponseEncoder(ResponsePlan(second), ImplicitVRLittleEndian).fields is fields
    assert encode.ResponseEncoder(ResponsePlan(fewer), ImplicitVRLittleEndian).fields is not fields
    assert encode.ResponseEncoder(ResponsePlan(first), ExplicitVRLittleEndian).fields is not fields
