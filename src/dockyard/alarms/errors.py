"""CloudWatch's error codes for alarms, as the query protocol spells them.

CloudWatch is `awsQueryCompatible`: botocore maps these codes (`ResourceNotFound`,
`InvalidParameterValue`, ...) to the modeled exceptions on both protocols, so the
codes here are the model's `error.code` values, not the shape names.
"""

from __future__ import annotations

from dockyard.errors import AwsError


class ValidationError(AwsError):
    code = "ValidationError"


class InvalidParameterValue(AwsError):
    code = "InvalidParameterValue"


class InvalidParameterCombination(AwsError):
    code = "InvalidParameterCombination"


class MissingParameter(AwsError):
    code = "MissingParameter"


class ResourceNotFound(AwsError):
    code = "ResourceNotFound"
    status = 404


class ResourceNotFoundException(AwsError):
    """The tagging actions' spelling of "not found"."""

    code = "ResourceNotFoundException"
    status = 404


class InvalidFormat(AwsError):
    code = "InvalidFormat"


class InvalidNextToken(AwsError):
    code = "InvalidNextToken"

    def __init__(self, message: str = "The service returned an invalid NextToken.") -> None:
        super().__init__(message)
