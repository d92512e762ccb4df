from django.db import migrations

from ris.models import Role
from ris.roles import grant_permissions, model_permissions


def grant(apps, schema_editor):
    """Administrators list and revoke API tokens in the Django admin (tokens are issued by a command only)."""
    grant_permissions(apps, "ris", {Role.ADMIN: model_permissions(("apitoken",), ("view", "change"))})


class Migration(migrations.Migration):
    dependencies = [("ris", "0012_identifier_validators")]

    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
