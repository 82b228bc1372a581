"""Secrets, the Pulumi way: `secure:` only for credential keys, credentials only as Pulumi secrets,
never in a URL, never printed.

The blueprints' one credential key is `secrets.sources[].values[].value` (docs/security.md; its
Secret is tested in tests/modules/test_secret_store.py); the `Credential` mechanism itself is tested
with a test-only spec, `VaultSpec`, with a top-level and a nested credential.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

import pulumi
import pulumi_kubernetes as k8s
import pytest
from pydantic import Field
from typer.testing import CliRunner

from hybridai import program
from hybridai.cli import app
from hybridai.config import StackConfigError
from hybridai.config.base import CREDENTIAL_STAND_IN, Credential, HttpsUrl, Model
from hybridai.config.codec import decode_config, encode_config
from hybridai.config.loader import load_stack_file, validate_spec
from hybridai.plan.artifacts import SECRET, clean
from hybridai.plan.engine import execute
from hybridai.modules.target import Target, TargetArgs

runner = CliRunner()
PLAINTEXT = "s.hunter2-vault-token-0123456789"


class Vault(Model):
    address: HttpsUrl = Field(description="Vault address.")
    token: Credential = Field(description="Vault token.")


class VaultSpec(Model):
    """Test-only: a spec with a top-level and a nested credential."""

    blueprint: Literal["vault-test"] = Field(description="`vault-test`.")
    api_token: Credential = Field(min_length=20, description="An API token.")
    vault: Vault = Field(description="A Vault.")
    team: str = Field(default="a", description="Not a credential.")


SPECS = {"vault-test": VaultSpec}


def stack_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "Pulumi.vault.yaml"
    path.write_text("config:\n  hybrid-ai:blueprint: vault-test\n" + text)
    return path


SECURE_BOTH = "  hybrid-ai:apiToken:\n    secure: v1:AAAA-api\n  hybrid-ai:vault:\n    address: https://vault.example\n    token:\n      secure: v1:AAAA-vault\n"


def test_secure_values_of_credential_keys_become_stand_ins_marked_secret(tmp_path: Path) -> None:
    # GIVEN encrypted values for a top-level and a nested credential
    # WHEN the offline plan reads the stack file
    loaded = load_stack_file(stack_file(tmp_path, SECURE_BOTH), "stacks/Pulumi.vault.yaml", SPECS)
    # THEN each is a stand-in, and the keys holding them are listed as secret (as the Pulumi CLI lists them)
    assert loaded.config["hybrid-ai:apiToken"] == CREDENTIAL_STAND_IN
    assert loaded.config["hybrid-ai:vault"] == {"address": "https://vault.example", "token": CREDENTIAL_STAND_IN}
    assert loaded.secret_keys == ["hybrid-ai:apiToken", "hybrid-ai:vault"]


def test_a_credential_in_plain_text_is_refused_without_printing_it(tmp_path: Path) -> None:
    path = stack_file(tmp_path, f"  hybrid-ai:apiToken: {PLAINTEXT}\n  hybrid-ai:vault:\n    address: https://vault.example\n    token:\n      secure: v1:AAAA\n")
    with pytest.raises(StackConfigError) as caught:
        load_stack_file(path, "stacks/Pulumi.vault.yaml", SPECS)
    rendered = caught.value.render()
    assert (
        "  stacks/Pulumi.vault.yaml: hybrid-ai:apiToken: holds a credential, so it must be stored encrypted: "
        "`pulumi config set --secret --path 'hybrid-ai:apiToken' <value>` writes it as a `secure:` value"
    ) in rendered
    assert PLAINTEXT not in rendered


def test_secure_on_a_key_that_is_no_credential_names_the_keys_that_may_be(tmp_path: Path) -> None:
    path = stack_file(tmp_path, SECURE_BOTH + "  hybrid-ai:team:\n    secure: v1:AAAA\n")
    with pytest.raises(StackConfigError) as caught:
        load_stack_file(path, "stacks/Pulumi.vault.yaml", SPECS)
    [problem] = caught.value.problems
    assert (problem.loc, problem.type) == (("team",), "secret")
    assert problem.message.startswith("`secure:` (encrypted) values are only for keys that hold a credential, and this one doesn't: write its value in plain text.")
    assert "Keys that take a secure value: those of vault-test: apiToken, vault.token" in problem.message


def test_a_wrong_credential_is_reported_without_its_value() -> None:
    values = {"blueprint": "vault-test", "apiToken": "short", "vault": {"address": "https://vault.example", "token": PLAINTEXT}}
    with pytest.raises(StackConfigError) as caught:
        validate_spec("vault", values, SPECS)
    rendered = caught.value.render()
    assert "hybrid-ai:apiToken: Value should have at least 20 items after validation, not 5 (got '[secret]')" in rendered
    assert "short" not in rendered


def test_the_spec_never_shows_a_credential() -> None:
    spec = validate_spec("vault", {"blueprint": "vault-test", "apiToken": PLAINTEXT, "vault": {"address": "https://vault.example", "token": PLAINTEXT}}, SPECS)
    assert PLAINTEXT not in repr(spec) and PLAINTEXT not in str(spec.model_dump(mode="json"))


def vault_program(hand_over=lambda credential: credential.output()):
    """A program as the blueprints will use a credential: read config, validate, hand it to a resource."""

    def run() -> None:
        spec = validate_spec(pulumi.get_stack(), decode_config(program.stack_config()), SPECS)
        target = Target("v", "dc1", TargetArgs(placement="onprem", context="c"))
        k8s.core.v1.Secret(
            "vault-token",
            metadata={"name": "vault-token", "namespace": "apps"},
            string_data={"token": hand_over(spec.vault.token), "api": hand_over(spec.api_token)},
            opts=pulumi.ResourceOptions(parent=target, provider=target.provider),
        )

    return run


@pytest.fixture
def vault_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    # The program reads the keys the specs declare; here, the test-only spec's.
    monkeypatch.setattr(program, "config_keys", lambda: ["apiToken", "blueprint", "team", "vault"])


def test_under_pulumi_up_a_decrypted_credential_reaches_resources_only_as_a_secret(monkeypatch: pytest.MonkeyPatch, vault_keys: None) -> None:
    # GIVEN the config as the Pulumi CLI passes it: decrypted, in the environment, secret keys listed
    config = {"hybrid-ai:blueprint": "vault-test", "hybrid-ai:apiToken": PLAINTEXT, "hybrid-ai:vault": json.dumps({"address": "https://vault.example", "token": PLAINTEXT})}
    monkeypatch.setenv("PULUMI_CONFIG", json.dumps(config))
    monkeypatch.setenv("PULUMI_CONFIG_SECRET_KEYS", json.dumps(["hybrid-ai:apiToken", "hybrid-ai:vault"]))
    # WHEN the program runs
    resources = execute(vault_program(), project="hybrid-ai", stack="vault")
    # THEN the resource gets the credentials as a Pulumi secret, and nothing recorded shows them
    [secret] = [r for r in resources if r.type == "kubernetes:core/v1:Secret"]
    assert clean(secret.inputs)["stringData"] == SECRET
    assert PLAINTEXT not in json.dumps([clean(r.inputs) for r in resources])


def test_a_credential_handed_over_as_plain_text_is_refused_by_pulumi(monkeypatch: pytest.MonkeyPatch, vault_keys: None) -> None:
    config = {"hybrid-ai:blueprint": "vault-test", "hybrid-ai:apiToken": PLAINTEXT, "hybrid-ai:vault": json.dumps({"address": "https://vault.example", "token": PLAINTEXT})}
    monkeypatch.setenv("PULUMI_CONFIG", json.dumps(config))
    # WHEN a component passes the credential itself instead of `.output()` THEN Pulumi refuses the input
    with pytest.raises(Exception, match="unexpected input of type CredentialValue"):
        execute(vault_program(hand_over=lambda credential: credential), project="hybrid-ai", stack="vault")


def test_in_the_offline_plan_every_artifact_shows_a_secure_value_as_secret(tmp_path: Path, vault_keys: None) -> None:
    # GIVEN a stack file with encrypted credentials, read by the offline plan
    loaded = load_stack_file(stack_file(tmp_path, SECURE_BOTH), "stacks/Pulumi.vault.yaml", SPECS)
    # WHEN the program runs on the stand-ins
    resources = execute(vault_program(), project="hybrid-ai", stack="vault", config=encode_config(loaded.config), secret_keys=loaded.secret_keys)
    # THEN the resource's value is a secret, redacted in every record; the ciphertext is nowhere
    [secret] = [r for r in resources if r.type == "kubernetes:core/v1:Secret"]
    assert clean(secret.inputs)["stringData"] == SECRET
    assert "AAAA" not in json.dumps([clean(r.inputs) for r in resources])


# --- Through the CLI, with the real blueprints (none has a credential key yet) ----------------------


def plan(project: Path, tmp_path: Path, stack: str):
    out = tmp_path / "out"
    return runner.invoke(app, ["plan", stack, "--out", str(out), "--project-dir", str(project)]), out


def edit(project: Path, stack: str, old: str, new: str) -> None:
    path = project / "stacks" / f"Pulumi.{stack}.yaml"
    text = path.read_text()
    assert text.count(old) == 1
    path.write_text(text.replace(old, new))


def test_secure_on_a_plain_key_is_refused_naming_which_keys_may_be_secret(project: Path, tmp_path: Path) -> None:
    # GIVEN an encrypted cost center
    edit(project, "healthcare-dev", "hybrid-ai:costCenter: cc-4410-clinical-ai", "hybrid-ai:costCenter:\n    secure: v1:AAABAJgc")
    # WHEN planned
    result, out = plan(project, tmp_path, "healthcare-dev")
    # THEN exit 2 at the key, saying which keys may be secret; nothing written
    assert result.exit_code == 2
    assert (
        "stacks/Pulumi.healthcare-dev.yaml: hybrid-ai:costCenter: `secure:` (encrypted) values are only for keys that hold a credential, "
        "and this one doesn't: write its value in plain text. Keys that take a secure value: those of healthcare-onprem: secrets.sources[].values[].value"
    ) in result.stderr
    assert "Traceback" not in result.output
    assert not out.exists()


URL_CASES = [
    # (stack, old, new, key path, shown value, secret text that must not be printed)
    ("finance-dev", "decisionLogUrl: https://audit-sink.dev.bank.example/kserve", "decisionLogUrl: https://svc:t0ken-123@audit-sink.dev.bank.example/kserve",
     "hybrid-ai:audit.decisionLogUrl: URL holds credentials (`user:…@`); credentials don't go in URLs", "(got 'https://***@audit-sink.dev.bank.example/kserve')", "t0ken-123"),
    ("finance-dev", "decisionLogUrl: https://audit-sink.dev.bank.example/kserve", "decisionLogUrl: https://audit-sink.dev.bank.example/kserve?api_key=t0ken-123",
     "hybrid-ai:audit.decisionLogUrl: URL holds credentials in its query", "(got 'https://audit-sink.dev.bank.example/kserve?***')", "t0ken-123"),
    ("finance-dev", "decisionLogUrl: https://audit-sink.dev.bank.example/kserve", "decisionLogUrl: http://audit-sink.dev.bank.example/kserve",
     "hybrid-ai:audit.decisionLogUrl: not an absolute https:// URL with a host", "(got 'http://audit-sink.dev.bank.example/kserve')", None),
    ("manufacturing-prod", "hubRemoteWriteUrl: https://metrics.plant-a.example/api/v1/write", "hubRemoteWriteUrl: https://prom:pa55word@metrics.plant-a.example/api/v1/write",
     "hybrid-ai:hubRemoteWriteUrl: URL holds credentials", "(got 'https://***@metrics.plant-a.example/api/v1/write')", "pa55word"),
    ("manufacturing-prod", "repoUrl: https://git.plant-a.example/platform/edge-sites.git", "repoUrl: https://x-access-token:ghp_s3cr3t@git.plant-a.example/platform/edge-sites.git",
     "hybrid-ai:sites[2].gitops.repoUrl: site line-3: URL holds credentials", "(got 'https://***@git.plant-a.example/platform/edge-sites.git')", "ghp_s3cr3t"),
    ("manufacturing-prod", "modelSource: plant:models/line-1", "modelSource: ':s3,access_key_id=AKIA1,secret_access_key=s3cr3tkey:models/line-1'",
     "hybrid-ai:sites[0].modelSource: site line-1: rclone connection strings", "(got ':s3,***')", "s3cr3tkey"),
]


@pytest.mark.parametrize("stack, old, new, message, shown, secret", URL_CASES, ids=[c[1].split(":")[0] + " " + c[2].split(":", 1)[1].strip()[:40] for c in URL_CASES])
def test_credentials_in_a_url_are_refused_and_never_printed(project: Path, tmp_path: Path, stack: str, old: str, new: str, message: str, shown: str, secret: str | None) -> None:
    # GIVEN a URL field holding credentials (or not https where it must be)
    edit(project, stack, old, new)
    # WHEN planned
    result, out = plan(project, tmp_path, stack)
    # THEN exit 2 at the key, the fix named, the value shown without its credentials; nothing written
    assert result.exit_code == 2, result.output
    assert message in result.stderr, result.stderr
    assert shown in result.stderr, result.stderr
    if secret:
        assert secret not in result.stderr and secret not in result.stdout
        assert "Secret" in result.stderr  # where credentials go instead
    assert "Traceback" not in result.output
    assert not out.exists()
