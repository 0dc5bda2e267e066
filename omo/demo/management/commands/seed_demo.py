from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from omo.demo.seed import DEMO_PASSWORD, seed_demo


class Command(BaseCommand):
    help = (
        "Creates the demo brand (locations, channels, staff, registers, catalog, stock, members, orders). "
        "Safe to run again: it changes nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument("--base-url", default="http://127.0.0.1:8000", help="Where the printed links point.")
        parser.add_argument("--force", action="store_true", help="Seed even with DEBUG off (demo passwords!).")
        parser.add_argument("--quiet-logins", action="store_true", help="Do not print the demo logins.")

    def handle(self, *args, base_url, force, quiet_logins, **options):
        if not settings.DEBUG and not force:
            raise CommandError(
                "DEBUG is off: the demo data has known passwords and API keys. Use --force to seed anyway."
            )
        result = seed_demo()
        created = ", ".join(f"{n} {what}" for what, n in result.created.items()) or "nothing (already seeded)"
        self.stdout.write(self.style.SUCCESS(f"Demo data ready; created {created}."))
        if quiet_logins:
            return
        base = base_url.rstrip("/")
        self.stdout.write(f"""
  HQ dashboard:          {base}/dashboard/
  Admin (HQ):            {base}/admin/
  Store POS (clerks):    {base}/pos/
  REST API docs:         {base}/api/docs/
  Health:                {base}/healthz

  Demo logins (password for all: {DEMO_PASSWORD}):""")
        for username, role, store in result.logins:
            self.stdout.write(f"    {username:<16} {role:<18} {store}")
        for username in result.skipped:
            self.stdout.write(f"    {username:<16} (a login of that name existed before the demo: left unchanged)")
        self.stdout.write("\n  Channel API keys (header 'Authorization: Api-Key <key>'):")
        for code, key in result.channel_keys:
            self.stdout.write(f"    {code:<8} {key}")
        self.stdout.write("")
