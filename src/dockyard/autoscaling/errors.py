"""Application Auto Scaling's error codes (all HTTP 400, as the service answers them)."""

from __future__ import annotations

from dockyard.errors import AwsError


class ValidationException(AwsError):
    code = "ValidationException"


class ObjectNotFoundException(AwsError):
    code = "ObjectNotFoundException"


class ConcurrentUpdateException(AwsError):
    code = "ConcurrentUpdateException"


class ResourceNotFoundException(AwsError):
    code = "ResourceNotFoundException"


class LimitExceededException(AwsError):
    code = "LimitExceededException"
