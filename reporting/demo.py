"""Demo reporting set-up: the attending may sign final, report templates per modality, shared macros."""

from django.contrib.auth.models import Permission

from reporting.models import Macro, ReportTemplate
from ris.models import Modality, User

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
    log(f"reporting: {ReportTemplate.objects.count()} templates, {Macro.objects.count()} macros")
