"""Give the role groups their permissions on orders and exams."""

from django.db import migrations

from ris.models.accounts import Role
from ris.roles import grant_permissions, model_permissions

GRANTS = {
    Role.FRONT_DESK: model_permissions(("order", "exam"), ("view", "add", "change")),
    Role.TECHNOLOGIST: [*model_permissions(("order",), ("view",)), *model_permissions(("exam",), ("view", "change"))],
    Role.RADIOLOGIST: model_permissions(("order", "exam"), ("view",)),
    Role.BILLING: model_permissions(("order", "exam"), ("view",)),
    Role.ADMIN: model_permissions(("order", "exam"), ("view", "add", "change", "delete")),
}


def forwards(apps, schema_editor):
    grant_permissions(apps, "scheduling", GRANTS)


class Migration(migrations.Migration):
    dependencies = [("scheduling", "0001_initial"), ("ris", "0002_roles_and_modalities")]
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
