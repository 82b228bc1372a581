"""The CrossGuard policy pack: `pulumi preview --policy-pack policy`. Building the PolicyPack starts
the policy server, so this file does nothing else; the rules are plain functions in policy/rules."""
from pulumi_policy import EnforcementLevel, PolicyPack

from hybridai.policy.crossguard import policies

PolicyPack(name="hybrid-ai", enforcement_level=EnforcementLevel.MANDATORY, policies=policies())
