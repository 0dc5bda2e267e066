"""Rebuilds the dashboard's rollups by hand: after importing old orders, or correcting costs.

manage.py dashboard_rollup                      # what the nightly job does: missing days, the last two again
manage.py dashboard_rollup --from 2026-01-01 --to 2026-06-30   # those days and their complete months
"""

from datetime import date

from django.core.management.base import BaseCommand, CommandError

from omo.dashboard import services
from omo.dashboard.filters import months_between


class Command(BaseCommand):
    help = "Rebuilds the HQ dashboard's daily and monthly rollups."

    def add_arguments(self, parser):
        parser.add_argument("--from", dest="first", type=date.fromisoformat, help="First day (ISO date).")
        parser.add_argument("--to", dest="last", type=date.fromisoformat, help="Last day (ISO date).")

    def handle(self, *args, first=None, last=None, **options):
        if (first is None) != (last is None):
            raise CommandError("Give both --from and --to, or neither.")
        if first is None:
            self.stdout.write(f"{services.rollup_catch_up()} days rolled up.")
            return
        if first > last:
            raise CommandError("--from is after --to.")
        days = services.rollup_refresh(first=first, last=last)
        months = months_between(first, last)
        services.rollup_refresh_months(months)
        self.stdout.write(
            f"{days} days rolled up; months {months[0]:%Y-%m} to {months[-1]:%Y-%m} refreshed where complete."
        )
