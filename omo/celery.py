"""The Celery app: configured from Django settings (``CELERY_*``), tasks found in every app's tasks.py."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "omo.settings")

app = Celery("omo")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
app.autodiscover_tasks(["omo.core"])
