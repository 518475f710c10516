"""Who is calling: the principal of the current request, and the principals a request
may name in account settings.

Dockyard has no IAM. A server without --credentials has no identities: every caller is
the account's root user (arn:aws:iam::<account>:root). With --credentials, a caller is
the IAM user named by the access key id it signs with
(arn:aws:iam::<account>:user/<access key id>). The API gateway sets `CALLER` for each
request (the verified access key id, or None); code that runs outside a request
(controllers) sees None, the root user, so the account defaults apply to what they do.
"""

from __future__ import annotations

import re
from contextvars import ContextVar

from dockyard.arns import Identity
from dockyard.errors import AwsError, InvalidParameterException

CALLER: ContextVar[str | None] = ContextVar("dockyard_caller_access_key", default=None)

# IAM user and role names: up to 64 of [\w+=,.@-], after an optional /path/.
_IAM_PRINCIPAL = re.compile(
    r"^arn:(?P<partition>[a-z-]+):iam::(?P<account>\d{12}):"
    r"(?P<what>root|(?:user|role)(?:/[\w+=,.@-]+)*/[\w+=,.@-]{1,64})$"
)


class AccessDeniedException(AwsError):
    code = "AccessDeniedException"


def caller_arn(identity: Identity) -> str:
    """The principal ARN of the current request's caller."""
    access_key = CALLER.get()
    if access_key is None:
        return identity.iam_root()
    return f"arn:{identity.partition}:iam::{identity.account_id}:user/{access_key}"


def is_root(identity: Identity, principal: str) -> bool:
    return principal == identity.iam_root()


def principal_for(identity: Identity, given: str | None) -> str:
    """The principal a request is about: `principalArn` when given (checked: an IAM user,
    role or root of this account; only the root user or the principal itself may name
    it), else the caller."""
    caller = caller_arn(identity)
    if given is None:
        return caller
    match = _IAM_PRINCIPAL.match(given)
    if match is None:
        raise InvalidParameterException(
            f"Invalid principalArn {given!r}: expected the ARN of an IAM user, an IAM role or "
            f"the root user, e.g. {identity.iam_root()}. Federated users take the root "
            "user's settings and cannot have their own."
        )
    if match["account"] != identity.account_id or match["partition"] != identity.partition:
        raise InvalidParameterException(
            f"The principalArn {given!r} is not in this account ({identity.account_id})."
        )
    principal = identity.iam_root() if match["what"] == "root" else given
    if principal != caller and not is_root(identity, caller):
        raise AccessDeniedException(
            f"User: {caller} is not authorized to change or read the account settings of "
            f"{principal}: only the root user or the principal itself can."
        )
    return principal
