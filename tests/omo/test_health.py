import pytest
import redis
from django.db import connection


def test_healthz_in_eager_mode_reports_database_and_an_in_process_round_trip(client, db, settings):
    settings.REDIS_URL = ""

    response = client.get("/healthz")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["checks"]["database"]["status"] == "ok"
    assert body["checks"]["database"]["vendor"] == connection.vendor
    assert body["checks"]["redis"] == {
        "status": "disabled",
        "detail": "REDIS_URL is not set: tasks run eagerly in the web process",
    }
    assert body["checks"]["worker"]["mode"] == "eager"
    assert body["checks"]["worker"]["status"] == "ok"
    assert response["Cache-Control"].startswith("max-age=0")


def test_healthz_says_503_when_redis_goes_down(client, db, settings, scratch_redis):
    url, stop_redis = scratch_redis
    settings.REDIS_URL = url
    assert client.get("/healthz").json()["checks"]["redis"]["status"] == "ok"

    stop_redis()
    response = client.get("/healthz")

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "error"
    assert body["checks"]["redis"] == {"status": "error", "error": "ConnectionError"}
    assert body["checks"]["database"]["status"] == "ok"
    assert body["checks"]["beat"] == {"status": "skipped"}


def test_liveness_answers_without_touching_dependencies(client, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"

    response = client.get("/healthz/live")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_healthz_round_trips_through_a_real_worker(client, live_worker):
    response = client.get("/healthz")

    body = response.json()
    assert response.status_code == 200, body
    assert body["checks"]["redis"]["status"] == "ok"
    assert body["checks"]["worker"]["status"] == "ok"
    assert body["checks"]["worker"]["mode"] == "worker"


def test_healthz_says_503_when_no_worker_answers(client, redis_url, settings, db):
    from omo.celery import app

    settings.CELERY_TASK_DEFAULT_QUEUE = "omo-test-nobody-listens"
    saved = app.conf.task_always_eager
    app.conf.task_always_eager = False
    try:
        response = client.get("/healthz")
    finally:
        app.conf.task_always_eager = saved
        redis.Redis.from_url(redis_url).delete("omo-test-nobody-listens")  # the unanswered ping

    assert response.status_code == 503
    worker = response.json()["checks"]["worker"]
    assert worker["status"] == "error"
    assert worker["detail"] == "no worker answered within 3 s"


@pytest.mark.parametrize("method", ["post", "put", "delete"])
def test_healthz_only_answers_get(client, method):
    assert getattr(client, method)("/healthz").status_code == 405


def test_report_is_computed_once_per_cache_period(client, db, settings, monkeypatch):
    from django.core.cache import cache

    from omo.core import health

    settings.HEALTHZ_CACHE_SECONDS = 10
    settings.REDIS_URL = ""
    cache.clear()
    calls = []
    real = health.health_report
    monkeypatch.setattr(health, "health_report", lambda: calls.append(1) or real())

    bodies = [client.get("/healthz").json() for _ in range(5)]

    assert len(calls) == 1
    assert all(body == bodies[0] for body in bodies)
    cache.clear()


def test_beat_heartbeat_older_than_three_minutes_is_stale(db, settings):
    import time

    from django.core.cache import cache

    from omo.core.health import BEAT_HEARTBEAT_KEY, beat_last_seen

    cache.set(BEAT_HEARTBEAT_KEY, time.time() - 200)
    stale = beat_last_seen()
    cache.set(BEAT_HEARTBEAT_KEY, time.time() - 5)
    fresh = beat_last_seen()
    cache.delete(BEAT_HEARTBEAT_KEY)

    assert stale["status"] == "stale"
    assert fresh["status"] == "ok"


def test_ping_answers_anyone_without_touching_the_database(client, settings):
    # no ``db`` fixture: any query would fail the test; nor may Redis be needed
    settings.REDIS_URL = "redis://127.0.0.1:1/0"

    response = client.get("/api/v1/ping/")

    assert response.status_code == 200
    assert response.json() == {"ok": True}


def test_ping_is_in_the_api_schema(client, db):
    schema = client.get("/api/schema/?format=json").json()

    operation = schema["paths"]["/api/v1/ping/"]["get"]
    assert operation["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Ping"
    }
    assert schema["components"]["schemas"]["Ping"]["properties"] == {"ok": {"type": "boolean"}}
    assert operation.get("security") == [{}]
