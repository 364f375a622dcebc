"""The error hierarchy: one root, a few kinds; HTTP mapping lives in the API layer."""


class OnPyRunnerError(Exception):
    """Root of every error this package raises on purpose."""


class SandboxError(OnPyRunnerError):
    """The sandbox itself failed (nsjail missing, cgroup unusable, launch failed).

    Never a verdict about the user's code: callers report it as a service failure.
    """


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
