"""Who the worklist/MPPS SCP admits: TLS callers whose certificate another CA signed are refused, and with
RIS_MWL_RESTRICT_CALLERS only the active rooms' station AE titles (as they are now) and the extra titles."""

import ssl

import pytest
from pynetdicom import AE
from pynetdicom.sop_class import ModalityPerformedProcedureStep, ModalityWorklistInformationFind, Verification

from tests.conftest import free_port
from tests.factories import RoomFactory
from tests.interfaces.conftest import issue_certificates
from worklist import scp

pytestmark = [pytest.mark.django_db(transaction=True, serialized_rollback=True), pytest.mark.slow]


@pytest.fixture
def tls_port(settings, certificates):
    """The SCP over TLS with the test CA's server certificate, demanding a client certificate from that CA."""
    settings.RIS_MWL_TLS_CERT = str(certificates / "server.pem")
    settings.RIS_MWL_TLS_KEY = str(certificates / "server.key")
    settings.RIS_MWL_TLS_CA = str(certificates / "ca.pem")
    port = free_port()
    server = scp.start("127.0.0.1", port, "RIS_MWL", block=False)
    yield port
    server.shutdown()


def client_tls(ca, folder) -> ssl.SSLContext:
    """A modality's TLS: trusts `ca` for the server and presents folder/client.pem."""
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(ca))
    context.load_cert_chain(str(folder / "client.pem"), str(folder / "client.key"))
    return context


def associate(port: int, calling: str, tls: ssl.SSLContext | None = None):
    ae = AE(ae_title=calling)
    for context in (Verification, ModalityWorklistInformationFind, ModalityPerformedProcedureStep):
        ae.add_requested_context(context)
    return ae.associate("127.0.0.1", port, ae_title="RIS_MWL", tls_args=(tls, "127.0.0.1") if tls else None)


def test_a_caller_whose_certificate_another_ca_signed_is_refused(department, tls_port, certificates, tmp_path):
    foreign = issue_certificates(tmp_path / "foreign", "client")
    refused = associate(tls_port, "CT1", client_tls(certificates / "ca.pem", foreign))
    assert not refused.is_established

    trusted = associate(tls_port, "CT1", client_tls(certificates / "ca.pem", certificates))
    assert trusted.is_established  # the same modality with the trusted certificate gets in
    assert trusted.send_c_echo().Status == 0x0000
    trusted.release()


def test_over_tls_a_trusted_certificate_does_not_admit_an_unknown_calling_ae(
    department, tls_port, certificates, settings
):
    settings.RIS_MWL_RESTRICT_CALLERS = True
    tls = client_tls(certificates / "ca.pem", certificates)
    assert associate(tls_port, "STRANGER", tls).is_rejected
    admitted = associate(tls_port, "CT1", tls)
    assert admitted.is_established
    admitted.release()


def test_restricted_callers_follow_the_rooms_without_a_restart(department, mwl_port, settings):
    settings.RIS_MWL_RESTRICT_CALLERS = True
    RoomFactory(name="Old CT", station_ae_title="OLDCT", modality=department["rooms"]["CT1"].modality, active=False)
    assert associate(mwl_port, "OLDCT").is_rejected  # an inactive room's modality is no longer a peer
    assert associate(mwl_port, "CT9").is_rejected

    RoomFactory(name="CT 9", station_ae_title="CT9", modality=department["rooms"]["CT1"].modality)
    admitted = associate(mwl_port, "CT9")  # a room added while the SCP runs is admitted on its next association
    assert admitted.is_established
    admitted.release()
