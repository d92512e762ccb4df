from django.db import migrations

from ris.models import Role
from ris.roles import grant_permissions, model_permissions


def grant(apps, schema_editor):
    """Administrators configure the DICOM destinations the RIS forwards MPPS to in the Django admin, and see the
    forwards there (read-only: a failed one is sent again from the MPPS forwards page)."""
    grants = [
        *model_permissions(("dicomdestination",), ("view", "add", "change", "delete")),
        *model_permissions(("mppsforward",), ("view",)),
    ]
    grant_permissions(apps, "worklist", {Role.ADMIN: grants})


class Migration(migrations.Migration):
    dependencies = [("worklist", "0004_mpps_forwarding"), ("ris", "0002_roles_and_modalities")]

    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
