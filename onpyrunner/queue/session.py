"""Live sessions through the job store: a running program's output as it is written, and
what clients send it (stdin, end of input, signals), between the API process that holds a
client's WebSocket and the worker that runs the job, on either backend.

Each job that runs live has two channels:
- its **output log**: entries appended by the worker (chunks of stdout and stderr, and a
  mark when the program starts), read by any number of readers, each from its own cursor
  (a reader that comes late reads from the start). The worker never waits for a reader,
  so a slow client costs the worker nothing: the log is bounded by the run's output limit
  (the sandbox stops the program past it) and lives LOG_TTL_S after the run ends.
- its **input queue**: commands from clients, in order, taken by the worker one at a
  time. At most MAX_PENDING_INPUTS commands of at most INPUT_PIECE_CHARS characters wait;
  a sender waits while it is full, and the worker takes the next one only when the
  program's stdin pipe took the last (sandbox/live.py): a client that sends faster than
  the program reads holds its own WebSocket back, never the worker's memory. The worker
  reads it from a cursor, so a command whose delivery was cut off is read again, not lost.
Clients attached to a session say so (`attach`); the worker ends a session that no client
has been attached to for the setting session_idle_s.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from enum import StrEnum

#: Commands a client may send to a live program: the most that wait, and the most
#: characters of stdin in one (a longer stdin is sent in pieces).
MAX_PENDING_INPUTS = 16
INPUT_PIECE_CHARS = 64 * 1024
#: How long a run's output log is kept once the run ended (readers finish reading it).
LOG_TTL_S = 60.0
#: A client's presence lasts this long unless renewed (a crashed API process's clients
#: stop counting after it); attached clients renew it every third of it.
PRESENCE_TTL_S = 10.0
#: Where a reader starts: the beginning of the log (or of the input queue).
START = "0"


class OutputKind(StrEnum):
    """What an entry of the output log is."""

    STDOUT = "stdout"
    STDERR = "stderr"
    #: The program runs (after its compile, if any): what a client writes now reaches it.
    STARTED = "started"


@dataclass(frozen=True)
class Output:
    """One entry of a run's output log."""

    kind: OutputKind
    data: str = ""

    def dumps(self) -> str:
        return json.dumps([self.kind.value, self.data])

    @classmethod
    def loads(cls, raw: str) -> Output:
        kind, data = json.loads(raw)
        return cls(OutputKind(kind), str(data))


class CommandKind(StrEnum):
    """What a client may send a live program."""

    STDIN = "stdin"
    CLOSE_STDIN = "close_stdin"
    SIGNAL = "signal"


class Signal(StrEnum):
    """The signals a client may send a live program."""

    SIGINT = "SIGINT"
    SIGTERM = "SIGTERM"
    SIGKILL = "SIGKILL"


@dataclass(frozen=True)
class Command:
    """One command for a live program: stdin's text, the end of stdin, or a signal's name."""

    kind: CommandKind
    data: str = ""

    def dumps(self) -> str:
        return json.dumps([self.kind.value, self.data])

    @classmethod
    def loads(cls, raw: str) -> Command:
        kind, data = json.loads(raw)
        return cls(CommandKind(kind), str(data))


def stdin_pieces(text: str) -> list[Command]:
    """Stdin as commands of at most INPUT_PIECE_CHARS characters each."""
    return [
        Command(CommandKind.STDIN, text[i : i + INPUT_PIECE_CHARS])
        for i in range(0, len(text), INPUT_PIECE_CHARS)
    ]


class Sessions(ABC):
    """The live-session channels of a job store (`JobStore.sessions`)."""

    # --- the API's side -----------------------------------------------------------------
    @abstractmethod
    async def send(self, job_id: str, command: Command) -> None:
        """Queue a command for the job's program, waiting while MAX_PENDING_INPUTS wait
        (the caller bounds the wait: it stops when the job ends).

        Raises:
            BackendUnavailableError: the backend is down.
        """

    @abstractmethod
    async def read(self, job_id: str, cursor: str, timeout_s: float) -> tuple[list[Output], str]:
        """The log's entries after cursor (START: from the beginning) and the cursor after
        them; waits up to timeout_s for one, then ([], cursor)."""

    @abstractmethod
    def attach(self, job_id: str) -> AbstractAsyncContextManager[None]:
        """A client is attached to the job's session while the context is open."""

    # --- the worker's side ---------------------------------------------------------------
    @abstractmethod
    async def begin(self, job_id: str) -> None:
        """A run of the job starts: the output of an earlier delivery is dropped (readers'
        cursors stay valid); the input waiting is kept."""

    @abstractmethod
    async def publish(self, job_id: str, entries: list[Output]) -> None:
        """Append to the job's output log, in order."""

    @abstractmethod
    async def receive(
        self, job_id: str, cursor: str, timeout_s: float
    ) -> tuple[Command | None, str]:
        """The next command for the job's program after cursor (START: the first one
        waiting) and the cursor after it; (None, cursor) after timeout_s. A command is
        taken for good only by the call that returns it: a reply lost on the way (a
        dropped connection, a cancelled call) leaves it for the next call with the same
        cursor."""

    @abstractmethod
    async def attached(self, job_id: str) -> bool:
        """Whether some client is attached to the job's session now."""

    @abstractmethod
    async def end(self, job_id: str) -> None:
        """The run is over: input still waiting is dropped; the log is kept LOG_TTL_S."""
