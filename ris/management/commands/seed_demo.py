"""python manage.py seed_demo: load the demo department (idempotent), each app adding its own part."""

import random
from importlib import import_module
from importlib.util import find_spec

from django.apps import apps
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from ris.audit import Interface
from ris.demo import DEMO_PASSWORD, DEMO_USERS

SEED = 20261128


class Command(BaseCommand):
    help = "Create demo data for every app (idempotent). Refuses to run with DEBUG off unless --force is given."

    def add_arguments(self, parser):
        parser.add_argument("--force", action="store_true", help="Run even though DEBUG is off.")

    def handle(self, *args, force: bool = False, **options):
        if not settings.DEBUG and not force:
            raise CommandError("DEBUG is off: this looks like production. Demo data needs --force.")
        rng = random.Random(SEED)
        actor = Interface("CLI", "seed_demo")
        for app_config in apps.get_app_configs():  # INSTALLED_APPS order: ris before the apps built on it
            module_name = f"{app_config.name}.demo"
            if find_spec(module_name) is None:
                continue
            import_module(module_name).seed(rng=rng, actor=actor, log=self.stdout.write)
        self.stdout.write(self.style.SUCCESS(f"Demo users (password for all: {DEMO_PASSWORD}):"))
        for username, _first, _last, role, _title in DEMO_USERS:
            self.stdout.write(f"  {username:<14} {role.label}")
