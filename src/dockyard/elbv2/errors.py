"""ELBv2's error codes (the `error_code` of botocore's modeled exception shapes).

botocore turns each code into the client's exception class, e.g. code
"TargetGroupNotFound" -> `client.exceptions.TargetGroupNotFoundException`.
ValidationError is the generic input error and has no modeled shape.
"""

from __future__ import annotations

from dockyard.errors import AwsError


class ElbError(AwsError):
    """An ELBv2 error; a subclass may give a default message."""

    code = "ValidationError"
    default_message = "The request is not valid."

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.default_message)


class ValidationError(ElbError):
    code = "ValidationError"


class LoadBalancerNotFound(ElbError):
    code = "LoadBalancerNotFound"
    default_message = "One or more load balancers not found"


class TargetGroupNotFound(ElbError):
    code = "TargetGroupNotFound"
    default_message = "One or more target groups not found"


class ListenerNotFound(ElbError):
    code = "ListenerNotFound"
    default_message = "One or more listeners not found"


class RuleNotFound(ElbError):
    code = "RuleNotFound"
    default_message = "One or more rules not found"


class DuplicateLoadBalancerName(ElbError):
    code = "DuplicateLoadBalancerName"


class DuplicateTargetGroupName(ElbError):
    code = "DuplicateTargetGroupName"


class DuplicateListener(ElbError):
    code = "DuplicateListener"
    default_message = "A listener already exists on this port for this load balancer"


class PriorityInUse(ElbError):
    code = "PriorityInUse"


class ResourceInUse(ElbError):
    code = "ResourceInUse"


class InvalidTarget(ElbError):
    code = "InvalidTarget"


class TooManyTargets(ElbError):
    code = "TooManyTargets"


class TooManyListeners(ElbError):
    code = "TooManyListeners"


class TooManyRules(ElbError):
    code = "TooManyRules"


class TooManyTargetGroups(ElbError):
    code = "TooManyTargetGroups"


class TooManyActions(ElbError):
    code = "TooManyActions"


class TooManyTags(ElbError):
    code = "TooManyTags"


class DuplicateTagKeys(ElbError):
    code = "DuplicateTagKeys"


class OperationNotPermitted(ElbError):
    code = "OperationNotPermitted"


class InvalidConfigurationRequest(ElbError):
    code = "InvalidConfigurationRequest"


class InvalidLoadBalancerAction(ElbError):
    code = "InvalidLoadBalancerAction"


class TargetGroupAssociationLimit(ElbError):
    code = "TargetGroupAssociationLimit"


class IncompatibleProtocols(ElbError):
    code = "IncompatibleProtocols"


class ALPNPolicyNotSupported(ElbError):
    code = "ALPNPolicyNotFound"
    default_message = "The specified ALPN policy is not supported"


class CertificateNotFound(ElbError):
    code = "CertificateNotFound"
    default_message = "One or more certificates not found"


class SSLPolicyNotFound(ElbError):
    code = "SSLPolicyNotFound"
    default_message = "One or more SSL policies not found"


class TooManyCertificates(ElbError):
    code = "TooManyCertificates"
    default_message = "You've reached the limit on the number of certificates per listener"


class TooManyLoadBalancers(ElbError):
    code = "TooManyLoadBalancers"


class ResourceNotFound(ElbError):
    code = "ResourceNotFound"
    default_message = "The specified resource does not exist"


# --- Trust stores (mutual TLS) ---------------------------------------------------------------
class TrustStoreNotFound(ElbError):
    code = "TrustStoreNotFound"
    default_message = "One or more trust stores not found"


class TrustStoreInUse(ElbError):
    code = "TrustStoreInUse"


class TrustStoreNotReady(ElbError):
    code = "TrustStoreNotReady"
    default_message = "The specified trust store is not active"


class DuplicateTrustStoreName(ElbError):
    code = "DuplicateTrustStoreName"


class TooManyTrustStores(ElbError):
    code = "TooManyTrustStores"


class InvalidCaCertificatesBundle(ElbError):
    code = "InvalidCaCertificatesBundle"


class CaCertificatesBundleNotFound(ElbError):
    code = "CaCertificatesBundleNotFound"


class InvalidRevocationContent(ElbError):
    code = "InvalidRevocationContent"


class RevocationContentNotFound(ElbError):
    code = "RevocationContentNotFound"


class RevocationIdNotFound(ElbError):
    code = "RevocationIdNotFound"


class TooManyTrustStoreRevocationEntries(ElbError):
    code = "TooManyTrustStoreRevocationEntries"


class DeleteAssociationSameAccount(ElbError):
    code = "DeleteAssociationSameAccount"


class TrustStoreAssociationNotFound(ElbError):
    code = "AssociationNotFound"
