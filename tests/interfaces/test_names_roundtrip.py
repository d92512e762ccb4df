"""Names from the CIS reach the modality unchanged: HL7 (UTF-8 and Latin-1) -> database -> DICOM worklist."""

import pytest
from pydicom import Dataset
from pynetdicom import AE
from pynetdicom.sop_class import ModalityWorklistInformationFind

from interfaces.services import message_receive
from tests.conftest import free_port
from tests.interfaces.conftest import orm, tomorrow_at
from worklist import scp

pytestmark = [pytest.mark.django_db(transaction=True, serialized_rollback=True), pytest.mark.slow]


@pytest.mark.parametrize(
    ("hl7_name", "charset", "encoding", "dicom_name"),
    [
        ("Müller^Jürgen", "UNICODE UTF-8", "utf-8", "Müller^Jürgen"),
        ("Øster^Åse", "8859/1", "latin-1", "Øster^Åse"),
        ("山田^太郎", "UNICODE UTF-8", "utf-8", "山田^太郎"),
        ("O\\T\\Neil^Se\\XC3A1\\n", "UNICODE UTF-8", "utf-8", "O&Neil^Seán"),
    ],
)
def test_a_name_sent_in_hl7_comes_out_of_the_worklist_unchanged(catalog, hl7_name, charset, encoding, dicom_name):
    text = orm("N1", status="SC", start=tomorrow_at(10)).replace("Müller^Jürgen^K^^Dr", hl7_name)
    ack = message_receive(text.replace("UNICODE UTF-8", charset).encode(encoding))
    assert "MSA|AA|" in ack
    port = free_port()
    server = scp.start("127.0.0.1", port, "RIS_MWL", block=False)
    try:
        ae = AE(ae_title="CT1")
        ae.add_requested_context(ModalityWorklistInformationFind)
        assoc = ae.associate("127.0.0.1", port, ae_title="RIS_MWL")
        query = Dataset()
        query.SpecificCharacterSet = "ISO_IR 192"
        query.PatientName = ""
        query.PatientID = "P100"
        names = [
            str(answer.PatientName)
            for status, answer in assoc.send_c_find(query, ModalityWorklistInformationFind)
            if status.Status in (0xFF00, 0xFF01)
        ]
        assoc.release()
    finally:
        server.shutdown()
    assert names == [dicom_name]
