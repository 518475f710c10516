"""botocore's service models are the API specification.

Input is checked with botocore's own `ParamValidator`, so the messages a client
sees are the ones the AWS SDKs print for the same mistakes.
"""

from __future__ import annotations

import functools
from typing import Any

import botocore.session
from botocore.model import OperationModel, ServiceModel
from botocore.validate import ParamValidator

from dockyard.errors import AwsError


@functools.cache
def service_model(name: str) -> ServiceModel:
    return botocore.session.get_session().get_service_model(name)


_validator = ParamValidator()


def validate(operation: OperationModel, params: dict[str, Any], error_code: str) -> None:
    """Raise `AwsError(error_code)` with botocore's report when params break the model."""
    shape = operation.input_shape
    if shape is None:
        if params:
            raise AwsError(f"{operation.name} takes no parameters.", code=error_code)
        return
    try:
        report = _validator.validate(params, shape)
    except (RuntimeError, OverflowError, ValueError) as error:
        # botocore's timestamp check raises on values it cannot place in time
        # (e.g. an epoch of 10**21): that is the client's input, not our failure.
        raise AwsError(f"Invalid parameter value: {error}", code=error_code) from None
    if report.has_errors():
        lines = report.generate_report().splitlines()
        message = "; ".join(line.strip() for line in lines if line.strip())
        raise AwsError(message, code=error_code)
