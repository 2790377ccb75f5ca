"""Domain errors shared by every domain.

Logic and data-access code raise these; one decorator (``chalicelib.core.web``) maps them to
HTTP. Each carries its own status and snake_case ``code`` so no caller ever matches on text.
"""

from __future__ import annotations


class DomainError(Exception):
    """Base of every error a client may see."""

    status: int = 400
    code: str = "validation_error"

    def __init__(self, message: str = "", *, code: str | None = None) -> None:
        super().__init__(message or self.__class__.__doc__ or self.code)
        self.message = message or (self.__class__.__doc__ or self.code).strip()
        if code is not None:
            self.code = code


class ValidationError(DomainError):
    """The request is not valid."""

    status = 400
    code = "validation_error"


class InvalidCursorError(DomainError):
    """The cursor is malformed, tampered with, or belongs to another listing."""

    status = 400
    code = "invalid_cursor"


class UnauthorizedError(DomainError):
    """Missing or invalid credentials."""

    status = 401
    code = "unauthorized"


class ForbiddenError(DomainError):
    """The caller may not do this."""

    status = 403
    code = "forbidden"


class NotFoundError(DomainError):
    """Not found."""

    status = 404
    code = "not_found"


class ConflictError(DomainError):
    """The request conflicts with the current state."""

    status = 409
    code = "conflict"


class PayloadTooLargeError(DomainError):
    """The request body or declared size is too large."""

    status = 413
    code = "payload_too_large"


class IdempotencyKeyReusedError(DomainError):
    """This idempotency key was already used with a different request."""

    status = 422
    code = "idempotency_key_reused"


class UnprocessableError(DomainError):
    """The request is well-formed but cannot be processed."""

    status = 422
    code = "unprocessable"


class RateLimitedError(DomainError):
    """Too many requests."""

    status = 429
    code = "rate_limited"

    def __init__(self, message: str = "", *, retry_after: int = 1) -> None:
        super().__init__(message or "Too many requests; retry later.")
        self.retry_after = max(1, int(retry_after))


class UnavailableError(DomainError):
    """A dependency is temporarily unavailable; the client may retry."""

    status = 503
    code = "unavailable"

    def __init__(self, message: str = "", *, code: str | None = None, retry_after: int = 1) -> None:
        super().__init__(message, code=code)
        self.retry_after = max(1, int(retry_after))
