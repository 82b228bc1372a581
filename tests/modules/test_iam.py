"""IAM policy documents: explicit statements, a trust only one service holds, TLS-only buckets."""
from __future__ import annotations

import json

from hybridai.modules.iam import deny_insecure_transport, document, trust


def test_a_document_is_the_2012_10_17_language_with_its_statements_in_order() -> None:
    # GIVEN two statements WHEN written as a document
    first, second = {"Sid": "A", "Effect": "Allow", "Action": ["s3:GetObject"], "Resource": ["arn:aws:s3:::b/*"]}, {"Sid": "B", "Effect": "Deny", "Action": "s3:*", "Resource": "*"}
    text = document(first, second)
    # THEN it is the current policy language version, statements in the order given, keys sorted
    # (the same statements always give the same text, so a plan never shows a false change)
    assert json.loads(text) == {"Version": "2012-10-17", "Statement": [first, second]}
    assert text == document(dict(reversed(list(first.items()))), second)


def test_a_trust_lets_only_its_service_assume_the_role_and_pod_identity_tag_the_session() -> None:
    # GIVEN a role for EC2 nodes and one for EKS Pod Identity
    nodes = json.loads(trust("ec2.amazonaws.com"))["Statement"]
    pods = json.loads(trust("pods.eks.amazonaws.com", tag_session=True))["Statement"]
    # THEN each names its one service principal, and only Pod Identity may tag the session (it sets
    # the namespace and service account as session tags)
    assert nodes == [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": ["sts:AssumeRole"]}]
    assert pods == [{"Effect": "Allow", "Principal": {"Service": "pods.eks.amazonaws.com"}, "Action": ["sts:AssumeRole", "sts:TagSession"]}]


def test_a_trust_for_a_source_lets_the_service_assume_the_role_only_on_its_behalf() -> None:
    # GIVEN CloudWatch Logs' role, for the account's log groups in one region
    [statement] = json.loads(trust("logs.amazonaws.com", source_arn="arn:aws:logs:eu-central-1:1:*"))["Statement"]
    # THEN the service assumes it only for a source matching that ARN
    assert statement["Principal"] == {"Service": "logs.amazonaws.com"}
    assert statement["Condition"] == {"StringLike": {"aws:SourceArn": "arn:aws:logs:eu-central-1:1:*"}}


def test_a_bucket_refuses_every_request_not_over_tls() -> None:
    # GIVEN a bucket's ARN WHEN its TLS-only statement is made
    statement = deny_insecure_transport("arn:aws:s3:::fin-prod-audit-1")
    # THEN it denies (never allows) everything on the bucket and its objects when the request isn't TLS
    assert statement["Effect"] == "Deny" and statement["Action"] == "s3:*" and statement["Principal"] == "*"
    assert statement["Resource"] == ["arn:aws:s3:::fin-prod-audit-1", "arn:aws:s3:::fin-prod-audit-1/*"]
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
