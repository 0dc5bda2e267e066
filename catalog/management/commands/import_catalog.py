from pathlib import Path

import tablib
from django.core.management.base import BaseCommand, CommandError

from catalog.imports import CatalogResource, import_catalog, problems


class Command(BaseCommand):
    help = "Imports products and prices from CSV or XLSX (a row per SKU); nothing is imported while any row is bad."

    def add_arguments(self, parser):
        parser.add_argument("path")
        parser.add_argument("--dry-run", action="store_true", help="Check every row and report, import nothing.")
        parser.add_argument("--export", action="store_true", help="Write the current catalog to PATH instead.")

    def handle(self, *args, path, dry_run, export, **options):
        file = Path(path)
        if export:
            data = CatalogResource().export()
            file.write_bytes(data.export("xlsx") if file.suffix == ".xlsx" else data.export("csv").encode("utf-8"))
            self.stdout.write(f"Exported {len(data)} rows to {file}.")
            return
        if file.suffix == ".xlsx":
            dataset = tablib.Dataset().load(file.read_bytes(), format="xlsx")
        else:
            dataset = tablib.Dataset().load(file.read_text(encoding="utf-8-sig"), format="csv")
        result = import_catalog(dataset, dry_run=dry_run)
        bad = problems(result)
        if bad:
            for line in bad:
                self.stderr.write(line)
            raise CommandError(f"{len(bad)} problem(s); nothing was imported.")
        totals = result.totals
        verb = "Would import" if dry_run else "Imported"
        self.stdout.write(f"{verb} {totals.get('new', 0)} new and {totals.get('update', 0)} updated SKUs.")
