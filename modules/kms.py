"""A customer-managed KMS key with its alias: how every hybrid-ai key is made."""
from __future__ import annotations

from typing import Any

import pulumi
import pulumi_aws as aws

from hybridai.modules.base import options
from hybridai.modules.iam import document


def key_policy(account_id: str, *service_statements: dict[str, Any]) -> str:
    """A key policy that lets one AWS service use the key for one purpose, besides the account
    administering it (the default key policy's statement: without it the key could become
    unmanageable)."""
    admin = {"Sid": "AccountAdministersKey", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{account_id}:root"}, "Action": "kms:*", "Resource": "*"}
    return document(admin, *service_statements)


def logs_encrypt(region: str, log_group_arn: str) -> dict[str, Any]:
    """The key-policy statement letting CloudWatch Logs of `region` encrypt one log group with the key."""
    return {
        "Sid": "CloudWatchLogsEncryptsThisGroup",
        "Effect": "Allow",
        "Principal": {"Service": f"logs.{region}.amazonaws.com"},
        "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"],
        "Resource": "*",
        "Condition": {"ArnEquals": {"kms:EncryptionContext:aws:logs:arn": log_group_arn}},
    }


def protected_key(parent: pulumi.Resource, logical: str, alias: str, purpose: str, provider: pulumi.ProviderResource, policy: pulumi.Input[str] | None = None) -> aws.kms.Key:
    """A rotating key `alias/<alias>` of `parent`. Keys are data: losing one makes everything it
    encrypted unreadable, so a deploy never deletes it, and a scheduled deletion waits 30 days."""
    key = aws.kms.Key(
        logical,
        description=f"{alias}: {purpose}",
        enable_key_rotation=True,
        deletion_window_in_days=30,
        policy=policy,
        opts=options(parent, provider=provider, protect=True, retain_on_delete=True),
    )
    aws.kms.Alias(f"{logical}-alias", name=f"alias/{alias}", target_key_id=key.key_id, opts=options(parent, provider=provider))
    return key
