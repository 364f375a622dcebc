"""Stopping asyncio tasks for certain.

On Python 3.11, `asyncio.wait_for` swallows a cancellation that lands just as the awaited
thing finishes: the cancelled task goes on as if nothing happened. redis-py sends every
command through `wait_for` (the Redis store's connections no longer do, see
queue/redis.py; other libraries still may), so a task cancelled while it talked to Redis
could miss its cancel. A task that loops until cancelled then never ends, and whatever
awaits it hangs with it (a worker's live session did: the job stayed RUNNING, its lease
renewed, its client waiting). `stop` cancels again until each task is done.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

#: How long a cancelled task has to end before it is cancelled again.
STOP_RETRY_S = 0.1


async def stop(tasks: Iterable[asyncio.Future[Any]]) -> list[Any]:
    """Cancel tasks and wait for their ends, cancelling again every STOP_RETRY_S while one
    goes on; what each ended with (its result, or its exception, CancelledError included)."""
    tasks = list(tasks)
    while True:
        running = [task for task in tasks if not task.done()]
        if not running:
            break
        for task in running:
            task.cancel()
        await asyncio.wait(running, timeout=STOP_RETRY_S)
    return await asyncio.gather(*tasks, return_exceptions=True)
