"""Domain errors, each carrying the AWS error code a client sees.

One hierarchy for the whole control plane; `api/` maps an `AwsError` to the wire
shape of its protocol (JSON `__type` or query XML `<Error><Code>`) in one place.

    AwsError                      (code, message, HTTP status)
    +-- ClientException           400  caller's fault, generic
    +-- InvalidParameterException 400
    +-- ...NotFoundException      400  (ECS answers 400 for missing resources)
    +-- AuthError                 403  UnrecognizedClientException, InvalidSignatureException...
    +-- ServerException           500  our fault; message never leaks internals
"""

from __future__ import annotations


class AwsError(Exception):
    """An error with an AWS error code, shown to the client as-is."""

    code = "ClientException"
    status = 400
    sender_fault = True

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status


class ClientException(AwsError):
    code = "ClientException"


class InvalidParameterException(AwsError):
    code = "InvalidParameterException"


class ClusterNotFoundException(AwsError):
    code = "ClusterNotFoundException"

    def __init__(self, message: str = "Cluster not found.") -> None:
        super().__init__(message)


class ServiceNotFoundException(AwsError):
    code = "ServiceNotFoundException"

    def __init__(self, message: str = "Service not found.") -> None:
        super().__init__(message)


class ServiceNotActiveException(AwsError):
    code = "ServiceNotActiveException"


class ResourceNotFoundException(AwsError):
    code = "ResourceNotFoundException"


class ResourceInUseException(AwsError):
    code = "ResourceInUseException"


class TargetNotFoundException(AwsError):
    code = "TargetNotFoundException"


class AttributeLimitExceededException(AwsError):
    code = "AttributeLimitExceededException"


class ClusterContainsContainerInstancesException(AwsError):
    code = "ClusterContainsContainerInstancesException"


class ClusterContainsServicesException(AwsError):
    code = "ClusterContainsServicesException"


class ClusterContainsTasksException(AwsError):
    code = "ClusterContainsTasksException"


class UnsupportedFeatureException(AwsError):
    code = "UnsupportedFeatureException"


class LimitExceededException(AwsError):
    code = "LimitExceededException"


class ProtocolError(AwsError):
    """The request could not be decoded (bad JSON, unknown action, ...)."""


class AuthError(AwsError):
    status = 403


class UnrecognizedClientException(AuthError):
    code = "UnrecognizedClientException"


class InvalidSignatureException(AuthError):
    code = "InvalidSignatureException"


class MissingAuthenticationTokenException(AuthError):
    code = "MissingAuthenticationTokenException"


class ServerException(AwsError):
    code = "ServerException"
    status = 500
    sender_fault = False
