"""callback_url: PUT the finished submission to the client, as Judge0 does, safely.

Where: the API process that accepted the submission follows the job (the store's watch,
which works the same on both backends) and sends the callback when the job ends. No worker
is involved, so workers need no outbound network and no Judge0 code. The cost: a callback
is sent at most once, by that process: on SIGTERM it waits up to shutdown_grace_s for
the jobs it follows to end; if it stops before a job ends (a crash, or past the grace),
that callback is lost and logged. Clients can always fall back to polling.

What: Judge0's callback body, the submission's default fields base64-encoded, as JSON with
a PUT. Up to `judge0_callback_max_tries` attempts, each with `judge0_callback_timeout_s`;
transport errors and 5xx answers are retried after a short back-off, other answers end the
delivery; every failure is logged. Redirects are not followed.

Safety: unless `judge0_allow_internal_callbacks` is set, the URL must be http(s) and its
host must resolve only to public addresses: loopback, private ranges, link-local (cloud
metadata at 169.254.169.254), CGNAT, multicast, reserved and unspecified addresses are
refused, at submission (422) and again when sending. The address checked is the address
connected to (the request goes to the resolved IP, with the original Host header and TLS
server name), so a name that re-resolves to an internal address in between cannot slip by.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import socket
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from onpyrunner.aio import stop
from onpyrunner.api import waiting
from onpyrunner.models import TERMINAL_STATUSES, Job
from onpyrunner.queue.store import JobStore
from onpyrunner.settings import Settings

log = logging.getLogger(__name__)

#: Longest callback_url accepted.
MAX_URL_CHARS = 2048

#: Back-off before attempt n + 1 is BACKOFF_S * 2**(n - 1), at most BACKOFF_MAX_S.
BACKOFF_S = 0.5
BACKOFF_MAX_S = 5.0

Render = Callable[[Job], Awaitable[dict[str, Any]]]


class CallbackURLError(ValueError):
    """A callback_url that may not be called."""


IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def is_public(ip: IPAddress) -> bool:
    """Whether an address is on the public internet (an IPv4-mapped IPv6 address is judged
    by the IPv4 address it carries)."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


async def resolve(url: httpx.URL, allow_internal: bool) -> list[str]:
    """The addresses url's host resolves to, all of them allowed.

    Raises:
        CallbackURLError: the host does not resolve, or resolves to an internal address.
    """
    host = url.host
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as e:
        raise CallbackURLError(f"host {host!r} cannot be resolved ({e})") from e
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    if not allow_internal:
        for address in addresses:
            if not is_public(ipaddress.ip_address(address.split("%")[0])):
                raise CallbackURLError(
                    f"must not point to an internal address ({host} is {address})"
                )
    if not addresses:
        raise CallbackURLError(f"host {host!r} cannot be resolved")
    return addresses


async def check_url(raw: str, allow_internal: bool) -> httpx.URL:
    """A callback_url that may be called.

    Raises:
        CallbackURLError: not an http(s) URL with a host, too long, or internal.
    """
    if len(raw) > MAX_URL_CHARS:
        raise CallbackURLError(f"is longer than {MAX_URL_CHARS} characters")
    try:
        url = httpx.URL(raw)
    except (httpx.InvalidURL, TypeError) as e:
        raise CallbackURLError(f"is not a valid URL ({e})") from e
    if url.scheme not in ("http", "https") or not url.host:
        raise CallbackURLError("must be an http:// or https:// URL with a host")
    await resolve(url, allow_internal)
    return url


class Callbacks:
    """Follows submissions that have a callback_url and delivers their callbacks."""

    def __init__(self, settings: Settings, store: JobStore, render: Render) -> None:
        self.settings = settings
        self.store = store
        self.render = render
        self.client = httpx.AsyncClient(
            timeout=settings.judge0_callback_timeout_s, follow_redirects=False, trust_env=False
        )
        self.tasks: set[asyncio.Task[None]] = set()

    def follow(self, job_id: str, url: str) -> None:
        """Send job_id's callback to url when it ends (in the background)."""
        task = asyncio.create_task(self._follow(job_id, url), name=f"judge0-callback-{job_id}")
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def close(self, grace_s: float = 0.0) -> None:
        """Stop following: jobs that end within grace_s still get their callbacks; the
        callbacks of the others are lost (and logged)."""
        if self.tasks and grace_s > 0:
            await asyncio.wait(list(self.tasks), timeout=grace_s)
        tasks = list(self.tasks)
        for task, ended in zip(tasks, await stop(tasks), strict=True):
            if isinstance(ended, asyncio.CancelledError):  # other errors: logged by _follow
                log.warning("judge0 callback not sent: the server stopped (%s)", task.get_name())
        await self.client.aclose()

    async def _finished(self, job_id: str) -> Job | None:
        """The job once it ends; None when it expires (or disappears) first."""
        async with waiting.follow(self.store, job_id) as follower:
            job = await follower.until_done(self.settings.job_ttl_s)
        return job if job is not None and job.status in TERMINAL_STATUSES else None

    async def _follow(self, job_id: str, url: str) -> None:
        try:
            job = await self._finished(job_id)
            if job is None:
                log.warning("judge0 callback for %s not sent: the job is gone", job_id)
                return
            body = json.dumps(await self.render(job)).encode()
            await self.deliver(job_id, url, body)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("judge0 callback for %s failed", job_id)

    async def deliver(self, job_id: str, url: str, body: bytes) -> bool:
        """PUT body to url, with the bounded retries; True when the receiver took it."""
        tries = self.settings.judge0_callback_max_tries
        for attempt in range(1, tries + 1):
            problem = await self._attempt(url, body)
            if problem is None:
                return True
            retry = problem.startswith("retry:")
            log.warning(
                "judge0 callback for %s, attempt %d of %d: %s",
                job_id,
                attempt,
                tries,
                problem.removeprefix("retry:"),
            )
            if not retry or attempt == tries:
                break
            await asyncio.sleep(min(BACKOFF_S * 2 ** (attempt - 1), BACKOFF_MAX_S))
        log.error("judge0 callback for %s to %s was not delivered", job_id, url)
        return False

    async def _attempt(self, raw_url: str, body: bytes) -> str | None:
        """One PUT to the checked address; None on success, else what went wrong
        ("retry:" first when another attempt may help)."""
        allow = self.settings.judge0_allow_internal_callbacks
        try:
            url = httpx.URL(raw_url)
            address = (await resolve(url, allow))[0]
        except CallbackURLError as e:
            return f"refused: callback_url {e}"
        headers = {"content-type": "application/json", "host": url.netloc.decode("ascii")}
        extensions = {"sni_hostname": url.host} if url.scheme == "https" else {}
        try:
            response = await self.client.put(
                url.copy_with(host=address),
                content=body,
                headers=headers,
                extensions=extensions,
            )
        except httpx.HTTPError as e:
            return f"retry:{type(e).__name__}: {e}"
        if response.status_code >= 500:
            return f"retry:the receiver answered {response.status_code}"
        if response.status_code >= 300:
            return f"the receiver answered {response.status_code}"
        return None
