"""Demo reporting set-up: the attending may sign final, report templates per modality, shared macros."""

from datetime import datetime, time

from django.contrib.auth.models import Permission
from django.utils import timezone

from clinical.demo import protocol_demo_exams
from reporting import services
from reporting.models import Macro, Report, ReportTemplate
from ris.demo import DEMO_PASSWORD
from ris.models import Modality, User
from scheduling.models import Exam

TEMPLATES = {
    "CT": ("CT (general)", "Axial images acquired; multiplanar reconstructions reviewed.", "None available."),
    "MR": ("MR (general)", "Multiplanar multisequence images obtained.", "None available."),
    "US": ("Ultrasound (general)", "Real-time grey-scale and colour Doppler imaging.", "None available."),
    "DX": ("Radiograph (general)", "Standard projections.", "None available."),
}
MACROS = {
    "normal": "No acute abnormality.",
    "nofrac": "No fracture or dislocation.",
    "clear": "The lungs are clear. No pleural effusion or pneumothorax.",
    "followup": "Follow-up imaging is recommended as clinically indicated.",
}


SIGNED_PER_SEED = 40  # each signature checks the password (PBKDF2): a few seconds in all
NORMAL_REPORT = {
    "clinical_information": "Routine examination.",
    "findings": "No acute abnormality.",
    "impression": "No acute abnormality.",
}


def seed(*, rng, actor, log) -> None:
    permission = Permission.objects.get(content_type__app_label="reporting", codename="sign_final")
    for user in User.objects.filter(username="radiologist"):
        user.user_permissions.add(permission)
    for code, (name, technique, comparison) in TEMPLATES.items():
        modality = Modality.objects.filter(code=code).first()
        if modality is not None:
            ReportTemplate.objects.get_or_create(
                name=name,
                defaults={
                    "modality": modality,
                    "technique": technique,
                    "comparison": comparison,
                    "findings": "",
                    "impression": "",
                },
            )
    for name, text in MACROS.items():
        Macro.objects.get_or_create(name=name, owner=None, defaults={"text": text})
    signed = _sign_older_exams()
    protocoled = protocol_demo_exams()  # here, not in clinical's demo: after the demo schedule exists
    templates, macros = ReportTemplate.objects.count(), Macro.objects.count()
    log(f"reporting: {templates} templates, {macros} macros, {signed} reports signed, {protocoled} exams protocoled")


def _sign_older_exams(limit: int = SIGNED_PER_SEED) -> int:
    """The demo radiologist signs some exams performed before today, so billing and the PDFs have final reports;
    today's stay on the reading worklist. Once: a later seed finds the radiologist's signed reports and stops."""
    radiologist = User.objects.filter(username="radiologist").first()
    if radiologist is None or Report.objects.filter(signed_by=radiologist).exists():
        return 0
    radiologist = User.objects.get(pk=radiologist.pk)  # a fresh instance: no stale permission cache
    before_today = timezone.make_aware(datetime.combine(timezone.localdate(), time.min))
    waiting = Exam.objects.filter(status=Exam.Status.COMPLETED, completed_at__lt=before_today, report__isnull=True)
    signed = 0
    for exam in waiting.order_by("completed_at", "id")[:limit]:
        report = services.report_save_draft(exam=exam, user=radiologist, sections=NORMAL_REPORT)
        services.report_sign_final(report=report, user=radiologist, password=DEMO_PASSWORD)
        signed += 1
    return signed
