"""The one exception tree of Hubwire.

Every error a caller can see derives from :class:`HubwireError`, carries a stable ``code``
(machine readable, never reworded), an HTTP ``status`` used by the REST layer, a human
``message`` and structured ``fields`` (ids of the entity, job, integration, provider).
Errors pickle between processes (workers) with their fields intact.

    HubwireError
    ├── ValidationError            422  bad input; carries a list of field errors
    │   └── SchemaError            422  a Noun declaration is wrong (raised at declaration time)
    ├── NotFoundError              404
    ├── ConflictError              409  stale version, unique violation, overlapping run
    │   └── IllegalTransitionError 409  a state machine refused the move
    ├── VetoError                  422  a before-hook refused the verb
    ├── AuthenticationError        401  missing or wrong Hubwire API key
    ├── InsufficientScopeError     403  the API key's scope does not allow the request
    ├── ConfigurationError         500  the deployment is misconfigured (not the caller's fault)
    ├── ProviderError              502  a provider failed; base of the provider family
    │   ├── ProviderAuthError      400  the provider refused the credentials
    │   ├── ProviderRateLimited    429
    │   ├── ProviderNotFound       404
    │   ├── ProviderInvalidRequest 400  the provider rejected the request (its message kept)
    │   └── ProviderUnavailable    503  5xx, timeouts, connection errors after retries
    ├── DeliveryError              502  an outbound webhook delivery failed
    └── JobError                   500  a job could not run
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = [
    "AuthenticationError",
    "ConfigurationError",
    "ConflictError",
    "DeliveryError",
    "FieldError",
    "HubwireError",
    "IllegalTransitionError",
    "InsufficientScopeError",
    "JobError",
    "NotFoundError",
    "ProviderAuthError",
    "ProviderError",
    "ProviderInvalidRequest",
    "ProviderNotFound",
    "ProviderRateLimited",
    "ProviderUnavailable",
    "SchemaError",
    "ValidationError",
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

    def __init__(self, message: str, *, code: str | None = None, **fields: Any) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.fields: dict[str, Any] = {k: v for k, v in fields.items() if v is not None}

    def __reduce__(self) -> tuple[Any, ...]:
        # Rebuild with the same message, code and fields in another process.
        return (_rebuild, (type(self), self.message, self.code, self.fields))

    def __str__(self) -> str:
        return self.message

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, **self.fields}


def _rebuild(cls: type[HubwireError], message: str, code: str, fields: dict[str, Any]) -> HubwireError:
    err = cls.__new__(cls)
    HubwireError.__init__(err, message, code=code, **fields)
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


class ConfigurationError(HubwireError):
    code = "configuration_error"
    status = 500
    title = "Configuration error"


class ProviderError(HubwireError):
    code = "provider_error"
    status = 502
    title = "Provider error"


class ProviderAuthError(ProviderError):
    code = "provider_auth_failed"
    status = 400
    title = "Provider refused the credentials"


class ProviderRateLimited(ProviderError):
    code = "provider_rate_limited"
    status = 429
    title = "Provider rate limit"


class ProviderNotFound(ProviderError):
    code = "provider_not_found"
    status = 404
    title = "Not found at the provider"


class ProviderInvalidRequest(ProviderError):
    code = "provider_invalid_request"
    status = 400
    title = "Provider rejected the request"


class ProviderUnavailable(ProviderError):
    code = "provider_unavailable"
    status = 503
    title = "Provider unavailable"


class DeliveryError(HubwireError):
    code = "delivery_failed"
    status = 502
    title = "Delivery failed"


class JobError(HubwireError):
    code = "job_error"
    status = 500
    title = "Job error"
