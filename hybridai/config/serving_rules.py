"""The cross-field rules of serving: canaries and the Gateway they need, the decision trail (logs,
its sink's CA and buffers), the serving Gateway's hosts, and LLMs (k3s's one pod per replica, the
inference gateway and the teams' token budgets). Each is listed in STACK_RULES
(hybridai/config/rules.py), which every stack runs."""
from __future__ import annotations

from hybridai import catalog
from hybridai.config.base import NO_VALUE, Problem
from hybridai.config.decisions import BUFFERED_SECONDS, MIB
from hybridai.config.spec import StackSpec, profiles_named


def check_canaries(spec: StackSpec) -> list[Problem]:
    """Canaries have a Gateway to split traffic."""
    return [
        Problem(
            ("models", i, "canary"),
            "canary_needs_gateway",
            "in KServe's Standard mode a canary gets its traffic share through Gateway API route weights; name the cluster's Gateway in `serving.gateway`",
            model.canary.model_dump(by_alias=True),
        )
        for i, model in enumerate(spec.models)
        if model.canary and not spec.serving.gateway
    ]


def check_decision_logging(spec: StackSpec) -> list[Problem]:
    """Decisions are kept where the profiles say so: no SOX or HIPAA model turns its decision log
    off; the provisioned sink is reachable over https the models' loggers can verify (the stack's
    internal CA, whose certificate each serving namespace gets), and each of its buffers holds a
    minute of the catalog's peak decisions."""
    problems: list[Problem] = []
    if catalog.log_retention(spec.compliance_profiles()).decisions:
        for i, model in enumerate(spec.models):
            if not model.decision_log:
                problems.append(
                    Problem(
                        ("models", i, "decisionLog"),
                        "decision_log_required",
                        f"model {model.name}: the profiles {profiles_named(spec)} keep every decision (its input, output and model version) write-once; "
                        "remove `decisionLog: false`",
                        False,
                    )
                )
    sink = spec.decision_sink()
    if sink is None:
        required = catalog.log_retention(spec.compliance_profiles())
        # (A profile that also asks for the archive has check_logging say so at the same key.)
        if required.decisions and not required.archive and spec.models and not spec.external_decision_log():
            problems.append(
                Problem(
                    ("logging", "auditArchive"),
                    "decision_sink_required",
                    f"the profiles {profiles_named(spec)} keep every model decision write-once: set `logging.auditArchive` so the stack provisions "
                    "its decision sink (or name an external sink, where the blueprint has `audit.decisionLogUrl`)",
                    NO_VALUE,
                )
            )
        return problems
    if spec.tls is not None and spec.tls.issuer.ca is None:
        problems.append(
            Problem(
                ("tls", "issuer", "existing"),
                "decision_sink_ca_required",
                "the decision sink serves https with a certificate of the stack's issuer, and KServe's logger verifies it against a CA "
                "certificate in each serving namespace, which the program copies from an internal CA's Secret: use `tls.issuer.ca` "
                "(or name an external sink, where the blueprint has `audit.decisionLogUrl`)",
                spec.tls.issuer.existing,
            )
        )
    peak = sum(m.peak_rps for m in spec.models if m.decision_log)
    if sink.buffered_seconds(peak) < BUFFERED_SECONDS:
        least = -(-int(BUFFERED_SECONDS * peak * sink.record_bytes) // MIB)
        problems.append(
            Problem(
                ("logging", "decisions", "bufferMib"),
                "decision_buffer_too_small",
                f"{sink.buffer_mib} MiB holds {sink.buffered_seconds(peak):.1f} s of the catalog's peak decisions ({peak:g} requests/s × "
                f"{sink.record_bytes} bytes): a destination's minute-long outage would stop the models' loggers; set at least {least}",
                sink.buffer_mib,
            )
        )
    return problems


def check_gateway_hosts(spec: StackSpec) -> list[Problem]:
    """The serving Gateway's host names are known, and there is a Gateway for them."""
    tls, gateway = spec.tls, spec.serving.gateway
    if tls is None:
        return []
    if gateway and not tls.gateway_hosts:
        return [Problem(("tls", "gatewayHosts"), "gateway_hosts_required", f"the serving Gateway {gateway} serves over HTTPS: list the host names its certificate is for", NO_VALUE)]
    if tls.gateway_hosts and not gateway:
        return [Problem(("tls", "gatewayHosts"), "gateway_required", "there is no serving Gateway to put a certificate on: set `serving.gateway` or remove these", tls.gateway_hosts)]
    return []


def check_llms(spec: StackSpec) -> list[Problem]:
    """A k3s cluster's LLMs fit one pod per replica; on a data-center cluster (llm-d) the stack has
    the inference gateway (`serving.llmGateway`), and each team owning an LLM has a token budget."""
    problems: list[Problem] = []
    if spec.onprem.distribution == "k3s":
        # vLLM InferenceServices: one pod per replica.
        for i, model in enumerate(spec.models):
            if model.llm is not None and model.llm.multi_node:
                problems.append(
                    Problem(
                        ("models", i, "llm", "multiNode"), "multi_node_on_k3s",
                        f"model {model.name}: a k3s cluster serves LLMs as vLLM InferenceServices, one pod per replica; a replica across nodes needs "
                        "LLMInferenceService's LeaderWorkerSet on a data-center cluster (kubeadm, RKE2): remove it, or serve the model there",
                        True,
                    )
                )
    if not spec.llm_d():
        return problems
    if spec.serving.llm_gateway is None:
        problems.append(
            Problem(
                ("serving", "llmGateway"), "llm_gateway_required",
                "the catalog's LLMs are served behind the cluster's inference gateway: set `serving.llmGateway` ({hosts, issuer, jwksUri, audiences}: "
                "where clients reach it and the identity provider whose tokens it accepts)",
                NO_VALUE,
            )
        )
    owners = {m.team for m in spec.models if m.llm is not None}
    for i, team in enumerate(spec.teams):
        if team.name in owners and team.llm_tokens_per_minute is None:
            problems.append(
                Problem(("teams", i, "llmTokensPerMinute"), "token_budget_required", f"team {team.name} owns an LLM: give it a token budget per minute the inference gateway enforces", NO_VALUE)
            )
    return problems
