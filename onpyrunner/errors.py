"""The error hierarchy: one root, a few kinds; HTTP mapping lives in the API layer."""


class OnPyRunnerError(Exception):
    """Root of every error this package raises on purpose."""


class SandboxError(OnPyRunnerError):
    """The sandbox itself failed (nsjail missing, cgroup unusable, launch failed).

    Never a verdict about the user's code: callers report it as a service failure.
    """


class SandboxFault(SandboxError):
    """A sandbox failed before the program started: none of it ran.

    The slot is torn down and built afresh, and the run may be tried again in another
    fresh sandbox. `cause` is a short label, counted in the metrics.
    """

    def __init__(self, message: str, cause: str) -> None:
        self.cause = cause
        super().__init__(message)


class ConfigError(OnPyRunnerError):
    """A setting or a policy file is invalid."""


class UnknownLanguageError(OnPyRunnerError):
    """The requested language is not available on this server."""

    def __init__(self, language: str, available: list[str]) -> None:
        self.language = language
        self.available = available
        super().__init__(
            f"unknown language {language!r}; available: {', '.join(available) or 'none'}"
        )


class BackendUnavailableError(OnPyRunnerError):
    """The queue backend (Redis) cannot be reached; try again later."""


class QueueFullError(OnPyRunnerError):
    """The queue holds its maximum number of unfinished jobs."""

    def __init__(self, limit: int, retry_after_s: int) -> None:
        self.limit = limit
        self.retry_after_s = retry_after_s
        super().__init__(f"the queue is full ({limit} unfinished jobs); retry later")


class JobNotFoundError(OnPyRunnerError):
    """No such job, or it has expired."""

    def __init__(self, job_id: str) -> None:
        self.job_id = job_id
        super().__init__(f"job {job_id} not found (unknown or expired)")


class BatchNotFoundError(OnPyRunnerError):
    """No such batch (never made, or expired)."""

    def __init__(self, batch_id: str) -> None:
        self.batch_id = batch_id
        super().__init__(f"batch {batch_id} not found (unknown or expired)")


class JobFinishedError(OnPyRunnerError):
    """The job has already finished: it cannot be cancelled."""

    def __init__(self, job_id: str, status: str) -> None:
        self.job_id = job_id
        self.status = status
        super().__init__(f"job {job_id} has already finished ({status})")


class HistoryUnavailableError(OnPyRunnerError):
    """The history database cannot be reached (or is not migrated yet); try again later."""


class HistoryOffError(OnPyRunnerError):
    """The history is turned off on this server (setting history)."""
