"""The raw-SQL baseline every benchmark divides by: pgbench running a script against the bench database."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from urllib.parse import urlsplit


def pgbench(
    url: str,
    script: str,
    *,
    clients: int,
    seconds: float | None = None,
    per_client: int | None = None,
    latencies: bool = False,
) -> tuple[float, list[float]]:
    """Runs ``script`` with ``clients`` clients for ``seconds`` (or ``per_client`` transactions each);
    returns (transactions per second, [latency in seconds per transaction] when ``latencies``)."""
    binary = shutil.which("pgbench")
    if not binary:
        raise SystemExit("pgbench is needed (apt-get install postgresql-client)")
    parts = urlsplit(url)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "bench.sql"
        path.write_text(script)
        length = ["-T", str(max(int(seconds), 1))] if seconds else ["-t", str(per_client)]
        logging = ["-l", f"--log-prefix={folder}/log"] if latencies else []
        out = subprocess.run(
            [
                binary,
                "-n",
                "-h",
                parts.hostname or "127.0.0.1",
                "-p",
                str(parts.port or 5432),
                "-U",
                parts.username or "postgres",
                "-c",
                str(clients),
                "-j",
                str(min(clients, 4)),
                *length,
                *logging,
                "-f",
                str(path),
                parts.path.lstrip("/"),
            ],
            capture_output=True,
            text=True,
            env={**os.environ, "PGPASSWORD": parts.password or ""},
            check=True,
        ).stdout
        times = [
            int(line.split()[2]) / 1e6 for log in Path(folder).glob("log.*") for line in log.read_text().splitlines()
        ]
    tps = float(next(line for line in out.splitlines() if line.startswith("tps = ")).split()[2])
    return tps, times
