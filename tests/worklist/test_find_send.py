"""C-FIND responses sent as one P-DATA each (worklist.encode.send_msg): the PDVs are exactly those pynetdicom's own
send_msg produces, the command set is built once per SOP class and status, and pynetdicom's path stays for what the
fast path does not cover (errors, fragments, watchers of the messages sent)."""

import logging
from io import BytesIO

import pytest
from pynetdicom import AE, dimse_messages, evt
from pynetdicom._handlers import LOGGER as DIMSE_LOG
from pynetdicom.association import Association
from pynetdicom.dimse_primitives import C_FIND
from pynetdicom.sop_class import ModalityWorklistInformationFind

from worklist import encode

IDENTIFIER = b"\x08\x00\x50\x00\x0a\x00\x00\x00ACC0000001" + b"\x10\x00\x10\x00\x0c\x00\x00\x00Lopez^Maria "


@pytest.fixture(autouse=True)
def installed():
    encode.install()


def provider(max_pdu: int = 16382):
    """The DIMSE provider of an acceptor association whose peer receives PDUs of up to `max_pdu` bytes (0: no
    limit); what it sends is kept in `.sent` instead of going to a socket."""
    assoc = Association(AE(ae_title="RIS_MWL"), "acceptor")
    assoc.requestor.maximum_length = max_pdu
    assoc.requestor._user_info_writeable = False  # as after negotiation (maximum_length reads the items then)
    dimse = assoc.dimse
    dimse.sent = []
    assoc.dul.send_pdu = dimse.sent.append
    return dimse


def response(status: int, identifier: bytes | None = IDENTIFIER, message_id: int = 7, comment: str | None = None):
    rsp = C_FIND()
    rsp.MessageID = message_id
    rsp.MessageIDBeingRespondedTo = message_id
    rsp.AffectedSOPClassUID = ModalityWorklistInformationFind
    rsp.Status = status
    rsp.Identifier = BytesIO(identifier) if identifier is not None else None
    if comment:
        rsp.ErrorComment = comment
    return rsp


def pdvs(sent) -> list[tuple[int, bytes]]:
    return [(context, bytes(data)) for pdata in sent for context, data in pdata.presentation_data_value_list]


def pynetdicoms(primitive, max_pdu: int = 16382):
    theirs = provider(max_pdu)
    encode._pynetdicom_send_msg(theirs, primitive, 3)
    return theirs.sent


@pytest.mark.parametrize(
    ("status", "identifier"), [(0xFF00, IDENTIFIER), (0xFF01, IDENTIFIER), (0x0000, None)], ids=["FF00", "FF01", "0000"]
)
def test_a_response_is_one_pdata_with_pynetdicoms_own_pdvs(status, identifier):
    ours = provider()
    ours.send_msg(response(status, identifier), 3)

    assert len(ours.sent) == 1  # pynetdicom: one P-DATA for the command, another for the identifier
    assert pdvs(ours.sent) == pdvs(pynetdicoms(response(status, identifier)))
    assert [data[0] for _context, data in pdvs(ours.sent)] == ([3, 2] if identifier else [3])  # last fragments


def test_the_command_set_is_built_once_per_status_with_each_cfinds_message_id(monkeypatch):
    built = []
    original = dimse_messages.C_FIND_RSP.primitive_to_message
    monkeypatch.setattr(
        dimse_messages.C_FIND_RSP,
        "primitive_to_message",
        lambda message, primitive: built.append(primitive.Status) or original(message, primitive),
    )
    ours = provider()
    for status in (0xFF00, 0xFF00, 0xFF00, 0x0000):
        ours.send_msg(response(status, IDENTIFIER if status else None), 3)
    for message_id in (8, 0xFFFF, 0):  # the next C-FINDs: their own Message ID Being Responded To
        ours.send_msg(response(0xFF00, message_id=message_id), 3)
        ours.send_msg(response(0x0000, None, message_id=message_id), 3)

    assert built == [0xFF00, 0x0000]
    assert pdvs(ours.sent)[2:4] == pdvs(ours.sent)[0:2]  # the same bytes for every match
    for message_id, sent in zip((8, 0xFFFF, 0), (ours.sent[4:6], ours.sent[6:8], ours.sent[8:10]), strict=True):
        assert pdvs(sent[:1]) == pdvs(pynetdicoms(response(0xFF00, message_id=message_id)))
        assert pdvs(sent[1:]) == pdvs(pynetdicoms(response(0x0000, None, message_id=message_id)))


def test_a_response_larger_than_the_peers_pdu_is_fragmented_as_pynetdicom_does():
    ours = provider(max_pdu=64)
    ours.send_msg(response(0xFF00), 3)

    assert len(ours.sent) > 2
    assert pdvs(ours.sent) == pdvs(pynetdicoms(response(0xFF00), max_pdu=64))


def test_no_limit_on_the_peers_pdu_length_sends_one_pdata():
    ours = provider(max_pdu=0)
    ours.send_msg(response(0xFF00), 3)
    assert len(ours.sent) == 1


def test_an_error_response_goes_pynetdicoms_way():
    ours = provider()
    ours.send_msg(response(0xC311, None, comment="Unable to process"), 3)

    assert "ris_find_commands" not in vars(ours)
    assert pdvs(ours.sent) == pdvs(pynetdicoms(response(0xC311, None, comment="Unable to process")))


def test_a_watcher_of_the_messages_sent_sees_every_response():
    ours = provider()
    seen = []
    ours.assoc.bind(evt.EVT_DIMSE_SENT, lambda event: seen.append(event.message.command_set.Status))
    ours.send_msg(response(0xFF00), 3)
    ours.send_msg(response(0x0000, None), 3)

    assert seen == [0xFF00, 0x0000]
    assert len(ours.sent) == 3  # pynetdicom's path: command and identifier apart


@pytest.fixture
def dimse_debug_log():
    level = DIMSE_LOG.level
    DIMSE_LOG.setLevel(logging.DEBUG)
    yield
    DIMSE_LOG.setLevel(level)


def test_pynetdicoms_debug_log_of_the_messages_sent_is_kept(dimse_debug_log, caplog):
    ours = provider()
    with caplog.at_level(logging.DEBUG, logger=DIMSE_LOG.name):
        ours.send_msg(response(0xFF00), 3)
    assert len(ours.sent) == 2
    assert "C-FIND RSP" in caplog.text
