"""A real Celery worker (``python -m tests.faults.slow_worker <celery worker args>``) that can be made to
stop in the middle of a task, for a test to kill it there with SIGKILL.

``FAULT_HOOK`` names where it stops; it then creates the file ``FAULT_MARKER`` and sleeps (the test waits
for the file, then kills the process):
- ``settlement``: inside the settlement build's transaction, after the old draft lines were deleted
  and the new ones inserted, before the period row is updated and the transaction commits;
- ``points:N``: inside the N-th member's points-expiry transaction (members 1..N-1 are committed).
``FAULT_NOW`` (ISO date and time): the worker's clock starts there and ticks (time_machine), for jobs that
work on "last month". Without these it is a plain worker. Nothing here is imported by the application.
"""

from __future__ import annotations

import os
import sys
import time


def _stall():
    open(os.environ["FAULT_MARKER"], "w").close()
    time.sleep(600)


def install(hook: str) -> None:
    if hook == "settlement":
        from attribution import settlement

        original = settlement._fingerprint

        def fingerprint(rows):
            _stall()
            return original(rows)

        settlement._fingerprint = fingerprint
    elif hook.startswith("points:"):
        from members import services

        stop_at, calls = int(hook.split(":")[1]), []
        original = services._save_balance

        def save_balance(member, *args, **kwargs):
            result = original(member, *args, **kwargs)
            calls.append(member.pk)
            if len(calls) == stop_at:
                _stall()
            return result

        services._save_balance = save_balance
    elif hook:
        raise SystemExit(f"unknown FAULT_HOOK {hook!r}")


def main() -> None:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "omo.settings")
    django.setup()
    install(os.environ.get("FAULT_HOOK", ""))
    if os.environ.get("FAULT_NOW"):
        import time_machine

        time_machine.travel(os.environ["FAULT_NOW"], tick=True).start()
    from omo.celery import app

    app.worker_main(["worker", *sys.argv[1:]])


if __name__ == "__main__":
    main()
