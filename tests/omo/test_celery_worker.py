"""A real worker process, started by the test, executing tasks sent through the real Redis."""

from omo.core.tasks import database_roundtrip, ping
from tests.factories import StoreFactory


def test_a_real_worker_executes_a_task_through_redis(live_worker):
    result = ping.apply_async(queue=live_worker)

    reply = result.get(timeout=30)

    assert reply["pong"] is True
    assert result.successful()
    assert result.state == "SUCCESS"


def test_the_worker_sees_what_the_test_committed_in_the_test_database(live_worker):
    StoreFactory(code="S-WORKER", name="Worker store")

    reply = database_roundtrip.apply_async(queue=live_worker).get(timeout=30)

    assert reply["database"].startswith("test_")
    assert reply["locations"] == ["S-WORKER"]
