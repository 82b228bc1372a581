"""IAM policy documents, written out: explicit actions and resources, never `*` in an Allow."""
from __future__ import annotations

import json
from typing import Any


def document(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)}, sort_keys=True)


def trust(service: str, *, tag_session: bool = False, source_arn: str | None = None) -> str:
    """A role only `service` may assume (EKS Pod Identity also tags the session); `source_arn`: only
    on behalf of resources matching it (`aws:SourceArn`, wildcards allowed), so another account's
    use of the service can't borrow the role."""
    actions = ["sts:AssumeRole", "sts:TagSession"] if tag_session else ["sts:AssumeRole"]
    statement: dict[str, Any] = {"Effect": "Allow", "Principal": {"Service": service}, "Action": actions}
    if source_arn:
        statement["Condition"] = {"StringLike": {"aws:SourceArn": source_arn}}
    return document(statement)


def deny_insecure_transport(bucket_arn: str) -> dict[str, Any]:
    """Refuse every request to the bucket that is not over TLS. A Deny, so the wildcard principal
    and action narrow access instead of granting it."""
    return {
        "Sid": "DenyInsecureTransport",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [bucket_arn, f"{bucket_arn}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }
