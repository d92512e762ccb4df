"""A macro's name starts with a letter, so that its `.name` token can never be mistaken for a number (".5 cm")."""

import django.core.validators
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("reporting", "0006_report_revision"),
    ]

    operations = [
        migrations.AlterField(
            model_name="macro",
            name="name",
            field=models.SlugField(
                help_text="typed as .name in the editor; starts with a letter",
                max_length=32,
                validators=[
                    django.core.validators.RegexValidator(
                        "^[A-Za-z][A-Za-z0-9_-]*$",
                        "A macro's name starts with a letter (then letters, digits, _ or -).",
                    )
                ],
            ),
        ),
    ]
