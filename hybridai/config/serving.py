"""Stack config of how served models are reached: the serving Gateway KServe's routes attach to,
and the inference gateway LLMs are served behind."""
from __future__ import annotations

from typing import Annotated

from pydantic import Field, StringConstraints

from hybridai.config.base import PLACEHOLDER, HttpsUrl, Model
from hybridai.config.security import Hostname


class LlmGatewaySettings(Model):
    """The inference gateway of a cluster serving LLMs with llm-d: where clients reach it, and the
    identity provider whose tokens it accepts (each team's group may use the team's LLMs)."""

    hosts: list[Hostname] = Field(
        min_length=1,
        examples=[["llm.example.com"]], json_schema_extra=PLACEHOLDER,
        description="Host names of the inference gateway's HTTPS listener; its certificate comes from the stack's issuer (`tls.issuer`).",
    )
    issuer: HttpsUrl = Field(
        examples=["https://login.example.com/realms/ml"], json_schema_extra=PLACEHOLDER,
        description="The identity provider's OIDC issuer (`iss` of its tokens): the gateway accepts only its signed JWTs.",
    )
    jwks_uri: HttpsUrl = Field(
        examples=["https://login.example.com/realms/ml/protocol/openid-connect/certs"], json_schema_extra=PLACEHOLDER,
        description="Where the issuer publishes its signing keys (`jwks_uri` of its `.well-known/openid-configuration`).",
    )
    audiences: list[Annotated[str, StringConstraints(min_length=1, max_length=253)]] = Field(
        min_length=1, examples=[["llm-gateway"]], json_schema_extra=PLACEHOLDER, description="Audiences (`aud`) a token must carry: the gateway's client id at the provider."
    )
    groups_claim: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.:-]{1,128}$")] = Field(
        default="groups", description="The token claim listing the caller's groups (the API server's `--oidc-groups-claim`)."
    )
    groups_prefix: Annotated[str, StringConstraints(max_length=64)] = Field(
        default="oidc:",
        description="The prefix the teams' `group`s carry (the API server's `--oidc-groups-prefix`), which the token's claim lacks: a team "
        "`oidc:radiology-ml` is the claim value `radiology-ml`.",
    )


class ServingSettings(Model):
    """How the on-prem cluster's served models are reached."""

    llm_gateway: LlmGatewaySettings | None = Field(
        default=None,
        description="The inference gateway LLMs are served behind on a data-center cluster (Envoy Gateway with Envoy AI Gateway): "
        "required when the catalog has an LLM there.",
    )

    gateway: str | None = Field(
        default=None,
        pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?/[a-z0-9]([-a-z0-9]*[a-z0-9])?$",
        examples=["gateway-system/internal"],
        description="An existing Gateway API Gateway (`namespace/name`) KServe attaches its HTTPRoutes to; canary traffic "
        "splitting needs it. Unset (default): no ingress is created and models are reached in the cluster through their "
        "Services only — nothing is exposed by default.",
    )

    @property
    def gateway_namespace(self) -> str | None:
        return self.gateway.split("/", 1)[0] if self.gateway else None
