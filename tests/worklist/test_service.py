"""The service itself: several associations at once, and TLS with client certificates."""

import re
import ssl
import threading

import pytest
from pynetdicom import AE
from pynetdicom.sop_class import ModalityWorklistInformationFind, Verification

from tests.conftest import free_port
from tests.worklist.conftest import findscu
from worklist import scp

pytestmark = [pytest.mark.django_db(transaction=True, serialized_rollback=True), pytest.mark.slow]


def test_several_associations_are_served_at_once(department, mwl_port, tmp_path):
    # Eight DCMTK findscu processes, each asking five times over one association. (pynetdicom's own SCU
    # is not used here: its reactor can take a pending C-FIND response off the queue under load and drop
    # it with "Received unexpected C-FIND service message", pydicom/pynetdicom#875.)
    outputs: dict[int, str] = {}

    def ask(number: int) -> None:
        workdir = tmp_path / str(number)
        workdir.mkdir()
        _, outputs[number] = findscu(mwl_port, "PatientName", "PatientID", workdir=workdir, options=("--repeat", "5"))

    threads = [threading.Thread(target=ask, args=(number,)) for number in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=90)
    assert sorted(outputs) == list(range(8))
    for output in outputs.values():
        assert output.count("Requesting Association") == 1
        # five exams are scheduled today or tomorrow; five queries, each answered with all five and success
        assert len(re.findall(r"Received Find Response \d+ \(Pending\)", output)) == 25, output
        assert len(re.findall(r"Received Final Find Response \(Success\)", output)) == 5, output


def test_tls_with_a_client_certificate(department, settings, certificates):
    settings.RIS_MWL_TLS_CERT = str(certificates / "server.pem")
    settings.RIS_MWL_TLS_KEY = str(certificates / "server.key")
    settings.RIS_MWL_TLS_CA = str(certificates / "ca.pem")
    port = free_port()
    server = scp.start("127.0.0.1", port, "RIS_MWL", block=False)
    try:
        client = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(certificates / "ca.pem"))
        client.load_cert_chain(str(certificates / "client.pem"), str(certificates / "client.key"))
        ae = AE(ae_title="CT1")
        ae.add_requested_context(Verification)
        ae.add_requested_context(ModalityWorklistInformationFind)
        assoc = ae.associate("127.0.0.1", port, ae_title="RIS_MWL", tls_args=(client, "127.0.0.1"))
        assert assoc.is_established
        assert assoc.send_c_echo().Status == 0x0000
        assoc.release()

        anonymous = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(certificates / "ca.pem"))
        refused = ae.associate("127.0.0.1", port, ae_title="RIS_MWL", tls_args=(anonymous, "127.0.0.1"))
        assert not refused.is_established  # no client certificate, no association

        plain = ae.associate("127.0.0.1", port, ae_title="RIS_MWL")
        assert not plain.is_established
    finally:
        server.shutdown()
