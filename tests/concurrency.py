"""Running the same work on several real database connections at once (a thread each)."""

from __future__ import annotations

import threading

from django.db import connection

from omo.core.errors import ConflictError


def run_together(n: int, work) -> list[tuple[str, object]]:
    """Starts ``work(i)`` for i in range(n) in n threads released together; returns each outcome:
    ("ok", result), ("conflict", code) for a 409, or ("error", repr) for anything else."""
    barrier = threading.Barrier(n)
    outcomes = []

    def worker(i):
        try:
            barrier.wait(timeout=10)
            outcomes.append(("ok", work(i)))
        except ConflictError as error:
            outcomes.append(("conflict", error.code))
        except Exception as error:
            outcomes.append(("error", repr(error)))
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return outcomes
