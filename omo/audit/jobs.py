"""Changes made by a Celery task or a management command say which: ``{"job": "<task name>"}`` or
``{"command": "<name>"}`` in their audit context (a web request's context has the user and URL)."""

from __future__ import annotations

import functools
import threading

from celery import signals
from django.core.management import BaseCommand

from omo.audit.context import in_context, is_recording

_open = threading.local()  # task id -> the open context of the task running in this thread

# management commands that change no tracked data, or must not have their SQL prefixed (migrations)
UNTRACKED_COMMANDS = frozenset(
    {"migrate", "makemigrations", "sqlmigrate", "showmigrations", "runserver", "test", "check", "collectstatic"}
)


def _task_started(task_id=None, task=None, **kwargs):
    # a task run eagerly inside a request (development, tests) keeps the request's context: the user
    # who caused it
    if task is None or in_context() or not is_recording():
        return
    import pghistory

    context = pghistory.context(job=task.name, task_id=task_id)
    context.__enter__()
    if not hasattr(_open, "contexts"):
        _open.contexts = {}
    _open.contexts[task_id] = context


def _task_finished(task_id=None, **kwargs):
    context = getattr(_open, "contexts", {}).pop(task_id, None)
    if context is not None:
        context.__exit__(None, None, None)


def _command_name(command: BaseCommand) -> str:
    return type(command).__module__.rsplit(".", 1)[-1]


def _audited_execute(execute):
    @functools.wraps(execute)
    def wrapper(self, *args, **options):
        name = _command_name(self)
        if name in UNTRACKED_COMMANDS or in_context() or not is_recording():
            return execute(self, *args, **options)
        import pghistory

        with pghistory.context(command=name):
            return execute(self, *args, **options)

    wrapper.audited = True
    return wrapper


def connect() -> None:
    signals.task_prerun.connect(_task_started, weak=False, dispatch_uid="audit-task-started")
    signals.task_postrun.connect(_task_finished, weak=False, dispatch_uid="audit-task-finished")
    if not getattr(BaseCommand.execute, "audited", False):
        BaseCommand.execute = _audited_execute(BaseCommand.execute)
