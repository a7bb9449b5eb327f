"""The one exception tree of Hubwire.

Every error a caller can see derives from :class:`HubwireError` and carries a stable ``code``
(machine readable, never reworded), the HTTP ``status`` the REST layer answers with, a human
``message`` and structured ``fields`` (ids of the entity, job, integration, provider). Callers
branch on types and typed attributes, never on codes or statuses:

- ``retryable``: trying the same thing again later may succeed (a provider's outage or rate
  limit, an overlapping run, a stale version); a refused credential or a bad input will not.
  Each class has a default; a raise site may say otherwise (``retryable=True``).
- ``retry_after``: seconds to wait before that retry, when known (a provider's ``Retry-After``).
- ``ProviderError.provider_status``: the HTTP status the provider answered, when it answered.

Errors pickle between processes (workers) with their attributes and fields intact.

    HubwireError                   status  retryable
    ├── ValidationError            422  .  bad input; carries a list of field errors
    │   └── SchemaError            422  .  a Noun declaration is wrong (raised at declaration time)
    ├── NotFoundError              404  .
    ├── ConflictError              409  .  unique violation, overlapping run
    │   ├── VersionConflictError   409  y  the entity changed since it was read (stale version)
    │   └── IllegalTransitionError 409  .  a state machine refused the move
    ├── VetoError                  422  .  a before-hook refused the verb
    ├── AuthenticationError        401  .  missing or wrong Hubwire API key
    ├── InsufficientScopeError     403  .  the API key's scope does not allow the request
    ├── CsrfError                  403  .  a dashboard form without its session's CSRF token
    ├── ConfigurationError         500  .  the deployment is misconfigured (not the caller's fault)
    └── ProviderError              502  y  a provider failed; base of the provider family
        ├── ProviderAuthError      400  .  the provider refused the credentials
        ├── ProviderRateLimited    429  y  ``retry_after`` says for how long
        ├── ProviderNotFound       404  .
        ├── ProviderInvalidRequest 400  .  the provider rejected the request (its message kept)
        └── ProviderUnavailable    503  y  5xx, timeouts, connection errors after retries
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = [
    "AuthenticationError",
    "ConfigurationError",
    "ConflictError",
    "CsrfError",
    "FieldError",
    "HubwireError",
    "IllegalTransitionError",
    "InsufficientScopeError",
    "NotFoundError",
    "ProviderAuthError",
    "ProviderError",
    "ProviderInvalidRequest",
    "ProviderNotFound",
    "ProviderRateLimited",
    "ProviderUnavailable",
    "RateLimitedError",
    "SchemaError",
    "ValidationError",
    "VersionConflictError",
    "VetoError",
]


@dataclass(frozen=True)
class FieldError:
    """One problem with one field of an input."""

    field: str
    code: str
    message: str

    def to_dict(self) -> dict[str, str]:
        return {"field": self.field, "code": self.code, "message": self.message}


class HubwireError(Exception):
    """Root of every error Hubwire raises on purpose."""

    code: str = "hubwire_error"
    status: int = 500
    title: str = "Hubwire error"
    retryable: bool = False

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        retryable: bool | None = None,
        retry_after: float | None = None,
        **fields: Any,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if retryable is not None:
            self.retryable = retryable
        self.retry_after = retry_after
        # retry_after stays a field too: the problem body and the CLI's JSON show it.
        self.fields: dict[str, Any] = {k: v for k, v in {**fields, "retry_after": retry_after}.items() if v is not None}

    def __reduce__(self) -> tuple[Any, ...]:
        # Rebuild in another process with every attribute (code, fields, retryable...) as it was.
        return (_rebuild, (type(self), self.message), dict(self.__dict__))

    def __str__(self) -> str:
        return self.message

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, **self.fields}


def _rebuild(cls: type[HubwireError], message: str) -> HubwireError:
    err = cls.__new__(cls)
    Exception.__init__(err, message)
    return err


class ValidationError(HubwireError):
    code = "validation_error"
    status = 422
    title = "Invalid input"

    def __init__(
        self,
        message: str,
        errors: list[FieldError] | None = None,
        *,
        code: str | None = None,
        **fields: Any,
    ) -> None:
        errs = list(errors or [])
        super().__init__(message, code=code, **fields)
        self.errors = errs
        self.fields["errors"] = [e.to_dict() for e in errs]

    @classmethod
    def single(cls, field: str, code: str, message: str, **fields: Any) -> ValidationError:
        return cls(message, [FieldError(field, code, message)], **fields)


class SchemaError(ValidationError):
    code = "schema_error"
    title = "Invalid Noun declaration"


class NotFoundError(HubwireError):
    code = "not_found"
    status = 404
    title = "Not found"


class ConflictError(HubwireError):
    code = "conflict"
    status = 409
    title = "Conflict"


class VersionConflictError(ConflictError):
    code = "version_conflict"
    title = "Stale version"
    retryable = True  # read the entity again and redo the change


class IllegalTransitionError(ConflictError):
    code = "illegal_transition"
    title = "Illegal state transition"


class VetoError(HubwireError):
    code = "vetoed"
    status = 422
    title = "Refused by a hook"


class AuthenticationError(HubwireError):
    code = "unauthenticated"
    status = 401
    title = "Authentication required"


class InsufficientScopeError(HubwireError):
    """A valid API key whose scope does not grant the request; ``required_scope`` names the one that would."""

    code = "insufficient_scope"
    status = 403
    title = "Insufficient scope"


class RateLimitedError(HubwireError):
    """Too many requests to Hubwire itself (e.g. ``POST /v1/collect`` past its rate): retry after ``retry_after``."""

    code = "rate_limited"
    status = 429
    title = "Too many requests"
    retryable = True


class CsrfError(HubwireError):
    """A dashboard form without its session's CSRF token: another site posting, or a stale page."""

    code = "csrf_failed"
    status = 403
    title = "Cross-site request refused"


class ConfigurationError(HubwireError):
    code = "configuration_error"
    status = 500
    title = "Configuration error"


class ProviderError(HubwireError):
    code = "provider_error"
    status = 502
    title = "Provider error"
    retryable = True

    def __init__(self, message: str, **fields: Any) -> None:
        # ``provider_status=`` is a keyword like the other fields (raise sites pass their context as
        # ``**where``), and also a typed attribute.
        super().__init__(message, **fields)
        self.provider_status: int | None = fields.get("provider_status")


class ProviderAuthError(ProviderError):
    code = "provider_auth_failed"
    status = 400
    title = "Provider refused the credentials"
    retryable = False


class ProviderRateLimited(ProviderError):
    code = "provider_rate_limited"
    status = 429
    title = "Provider rate limit"


class ProviderNotFound(ProviderError):
    code = "provider_not_found"
    status = 404
    title = "Not found at the provider"
    retryable = False


class ProviderInvalidRequest(ProviderError):
    code = "provider_invalid_request"
    status = 400
    title = "Provider rejected the request"
    retryable = False


class ProviderUnavailable(ProviderError):
    code = "provider_unavailable"
    status = 503
    title = "Provider unavailable"
