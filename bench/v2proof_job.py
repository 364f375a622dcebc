"""The v2 VM proof (scripts/v2proof, systemd mode): jobs to the systemd-started service.

Exits 0 when /health answers and a hello world and a 64 MiB memory bomb end as they must.
"""

from __future__ import annotations

import json
import sys
import time
import urllib.request

URL = "http://127.0.0.1:8000"


def call(method: str, path: str, body: dict[str, object] | None = None) -> dict[str, object]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        URL + path, data=data, method=method, headers={"content-type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=120) as answer:
        result: dict[str, object] = json.load(answer)
        return result


def main() -> int:
    deadline = time.monotonic() + 240
    while True:
        try:
            print("health:", call("GET", "/health"))
            break
        except OSError as e:
            if time.monotonic() > deadline:
                print("the service never answered:", e)
                return 1
            time.sleep(2)
    ok = True
    for source, memory_mb, outcome in (
        ("print('hello from systemd')", 128, "SUCCESS"),
        ("b = []\nwhile True: b.append(bytearray(8 << 20))", 64, "MEMORY_LIMIT_EXCEEDED"),
    ):
        limits = {"memory_mb": memory_mb, "wall_time_ms": 20000, "cpu_time_ms": 10000}
        job = call("POST", "/execute?wait=60", {"source_code": source, "limits": limits})
        result = job.get("result") or {}
        print(json.dumps({k: job.get(k) for k in ("status", "error")}), json.dumps(result))
        ok = ok and isinstance(result, dict) and result.get("outcome") == outcome
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
