"""Attributes paid orders not attributed yet, set-based, by hand: after importing old orders, or to
catch up a long outage of the queue at once (PostgreSQL).

manage.py attribute_orders --from 2026-11-01 --to 2026-11-30              # those days' paid orders
manage.py attribute_orders --from 2026-11-01 --to 2026-11-30 --workers 4  # four connections at once
"""

import os
from datetime import date, datetime, time, timedelta

from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django.utils import timezone

from attribution.bulk import orders_attribute_bulk


class Command(BaseCommand):
    help = "Attributes the paid orders of a range of days that are not attributed yet (PostgreSQL)."

    def add_arguments(self, parser):
        parser.add_argument("--from", dest="first", type=date.fromisoformat, required=True, help="First day (ISO).")
        parser.add_argument("--to", dest="last", type=date.fromisoformat, required=True, help="Last day (ISO).")
        parser.add_argument(
            "--workers",
            type=int,
            default=min(os.cpu_count() or 1, 4),
            help="Slices of time attributed at the same time, each on its own connection (default: the "
            "cores, at most 4).",
        )

    def handle(self, *args, first, last, workers, **options):
        if connection.vendor != "postgresql":
            raise CommandError("attribute_orders runs on PostgreSQL; elsewhere the catch-up job attributes orders.")
        if first > last:
            raise CommandError("--from is after --to.")
        if workers < 1:
            raise CommandError("--workers is at least 1.")
        start = timezone.make_aware(datetime.combine(first, time.min))
        end = timezone.make_aware(datetime.combine(last + timedelta(days=1), time.min))
        done = orders_attribute_bulk(paid_from=start, paid_to=end, workers=workers)
        self.stdout.write(f"{done} orders attributed ({first} to {last}, {workers} at a time).")
