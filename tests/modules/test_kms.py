"""Customer-managed KMS keys: rotating, protected, aliased, administered by the account."""
from __future__ import annotations

import json

import pulumi
import pulumi_aws as aws

from hybridai.modules.kms import key_policy, protected_key
from hybridai.modules.target import AwsScope, Target
from tests.helpers import of_type, run_module


def test_a_key_policy_keeps_the_account_administering_the_key_beside_the_services_use() -> None:
    # GIVEN a statement letting CloudWatch Logs use the key
    use = {"Sid": "LogsUse", "Effect": "Allow", "Principal": {"Service": "logs.eu-central-1.amazonaws.com"}, "Action": ["kms:Encrypt"], "Resource": "*"}
    statements = json.loads(key_policy("210987654321", use))["Statement"]
    # THEN the account root administers it first (without that, the key could become unmanageable), then the service's use
    assert statements[0] == {"Sid": "AccountAdministersKey", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::210987654321:root"}, "Action": "kms:*", "Resource": "*"}
    assert statements[1:] == [use]


def test_a_protected_key_rotates_waits_30_days_to_delete_and_survives_a_destroy() -> None:
    # GIVEN a key made for a component WHEN the program runs
    def program() -> None:
        target = Target("t", "aws", AwsScope(prefix="t", cluster="training", region="eu-central-1", account_id="210987654321"))
        provider = target.provider
        parent = pulumi.ComponentResource("test:index:Parent", "parent", opts=pulumi.ResourceOptions(parent=target))
        protected_key(parent, "p-logs-key", "p-logs", "EKS control-plane logs", provider)

    resources = run_module(program)
    [key] = of_type(resources, "aws:kms/key:Key")
    [alias] = of_type(resources, "aws:kms/alias:Alias")
    # THEN it rotates, its deletion waits the longest window, and neither destroy nor a rename deletes it
    assert key.inputs["enableKeyRotation"] is True and key.inputs["deletionWindowInDays"] == 30
    assert key.protect and key.retain_on_delete
    assert key.inputs["description"] == "p-logs: EKS control-plane logs"
    # AND it is reached by its alias, through the provider it was given
    assert alias.inputs["name"] == "alias/p-logs" and alias.name == "p-logs-key-alias"
    assert key.provider == alias.provider and "pulumi:providers:aws" in key.provider
