"""Exception hierarchy of raytune-llm.

Every exception raised on purpose by the package derives from :class:`RaytuneLLMError` and also
from the built-in exception a caller would naturally catch (``ValueError`` for bad arguments,
``ImportError`` for a missing extra, ``RuntimeError`` for a failing LLM), so that
``except ValueError`` keeps working for code that does not know about this package.
"""

from __future__ import annotations


class RaytuneLLMError(Exception):
    """Base class of every error raised on purpose by raytune-llm."""


class SearchSpaceError(RaytuneLLMError, ValueError):
    """A search space or a configuration does not satisfy the rules of :class:`SearchSpace`."""


class ConfigValidationError(SearchSpaceError):
    """A configuration is not valid for a search space.

    Attributes:
        problems: one human-readable line per problem found.
    """

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("invalid configuration: " + "; ".join(self.problems))


class MissingExtraError(RaytuneLLMError, ImportError):
    """An optional dependency is missing; the message names the extra to install."""


class LLMConfigError(RaytuneLLMError, ValueError):
    """An LLM backend was specified wrongly (unknown spec, missing model file, bad option)."""


class LLMError(RaytuneLLMError, RuntimeError):
    """A call to an LLM failed.

    Attributes:
        retryable: whether trying the same request again may succeed.
    """

    retryable: bool = False


class LLMTimeoutError(LLMError):
    """The LLM did not answer within the request's timeout."""

    retryable = True


class LLMConnectionError(LLMError):
    """The LLM server could not be reached."""

    retryable = True


class LLMRateLimitError(LLMError):
    """The server answered 429 (too many requests).

    Attributes:
        retry_after: seconds the server asked us to wait, if it said.
    """

    retryable = True

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class LLMServerError(LLMError):
    """The server answered with a 5xx status."""

    retryable = True


class LLMAuthError(LLMError):
    """The server rejected the credentials (401/403): retrying will not help."""


class LLMRequestError(LLMError):
    """The server rejected the request itself (4xx other than 401/403/429)."""


class LLMResponseError(LLMError):
    """The answer was not valid JSON or did not match the requested schema.

    Attributes:
        raw: the raw text the model produced (truncated), for logs.
    """

    retryable = True

    def __init__(self, message: str, *, raw: str = "") -> None:
        super().__init__(message)
        self.raw = raw[:2000]


class LLMUnavailableError(LLMError):
    """The worker is not calling the backend right now (circuit open, closed, or overloaded)."""


class LLMCancelledError(LLMUnavailableError):
    """The request was stopped on purpose: its worker was closed or the process is exiting.

    Nothing went wrong with the model; the worker logs it quietly and the breaker ignores it.
    """
