from django.db import migrations

from ris.models import Role
from ris.roles import grant_permissions, model_permissions


def grant(apps, schema_editor):
    """Administrators configure the HL7 peers in the Django admin: the senders the RIS takes messages from and the
    destinations it sends to."""
    actions = ("view", "add", "change", "delete")
    grant_permissions(apps, "interfaces", {Role.ADMIN: model_permissions(("sender", "destination"), actions)})


class Migration(migrations.Migration):
    dependencies = [("interfaces", "0002_senders_order_message_ack_state"), ("ris", "0002_roles_and_modalities")]

    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
