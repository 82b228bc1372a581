"""Building blocks shared by every blueprint's stack spec.

Field names are snake_case in Python and camelCase in stack files (Pulumi's convention), and every
model forbids unknown keys: a typo in a stack file is an error, never a silently ignored setting.
Each field's description is user documentation: docs/reference.md and the comments of
`hybridai new` are generated from it.
"""
from __future__ import annotations

import difflib
import re
import unicodedata
from typing import Annotated, Any, Iterable, Literal, NamedTuple
from urllib.parse import parse_qsl, urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, SecretStr, WrapValidator
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

from hybridai import catalog, cidr


class Model(BaseModel):
    """Base of every stack config model: frozen, camelCase keys, unknown keys rejected."""

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        alias_generator=to_camel,
        populate_by_name=False,
        validate_default=True,
    )


NO_VALUE = object()
"""A Problem's value when the key is missing (printed without `(got …)`)."""

PLACEHOLDER = {"placeholder": True}
"""Field metadata (`json_schema_extra`): the field's `examples` stand for the user's own environment
(a host, an account, a node, an image, a team), not a choice that could be right as written.
`hybridai new` writes them marked `# example`; a prod stack still holding one is refused at its key
and any other stack is warned (`example_values`, config.rules.check_example_values)."""


def _is_example(value: Any, examples: list[Any]) -> bool:
    """`value` is one of `examples`, or holds one of their items (a list) or values (a mapping)."""
    parts = [e for example in examples for e in (example if isinstance(example, list) else example.values() if isinstance(example, dict) else [example])]
    held = value if isinstance(value, list) else value.values() if isinstance(value, dict) else [value]
    return value in examples or any(v in parts for v in held)


def example_values(model: BaseModel, loc: tuple[str | int, ...] = ()) -> list[Problem]:
    """Every key of `model` (and the models in it) still holding the example value of a PLACEHOLDER
    field: what `hybridai new` wrote for the user to replace."""
    found: list[Problem] = []
    for name, info in type(model).model_fields.items():
        value, at = getattr(model, name), (*loc, info.alias or name)
        extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
        if extra.get("placeholder") and value is not None and _is_example(value, info.examples or []):
            found.append(Problem(at, "example_value", "is the example `hybridai new` wrote: replace it with your environment's", value))
        elif isinstance(value, BaseModel):
            found += example_values(value, at)
        elif isinstance(value, (list, tuple)):
            found += [p for i, item in enumerate(value) if isinstance(item, BaseModel) for p in example_values(item, (*at, i))]
    return found


def _gpu_model(value: str) -> str:
    known = catalog.gpus().models
    if value not in known:
        raise PydanticCustomError("gpu_model_unknown", "unknown GPU model; use one of {known}", {"known": ", ".join(sorted(known))})
    return value


GpuModelName = Annotated[str, AfterValidator(_gpu_model)]
"""A GPU model hybridai/data/gpus.yaml describes (memory, MIG profiles, how many fit a server)."""


def gpus_per_node_fit(count: int, gpu_model: str | None) -> int:
    """`count` GPUs per node, refused beyond what one server holds of `gpu_model` (gpus.yaml
    `max_per_node`); an unknown model is reported at its own key."""
    model = catalog.gpus().models.get(gpu_model) if gpu_model else None
    if model is not None and count > model.max_per_node:
        raise PydanticCustomError(
            "gpus_per_node_too_many",
            "no server holds {count} {gpu}: at most {limit} per node (hybridai/data/gpus.yaml `max_per_node`)",
            {"count": count, "gpu": gpu_model, "limit": model.max_per_node},
        )
    return count


def choose_from(name: str, known: Iterable[str], noun: str) -> str:
    """What to write instead of an unknown name, for the end of a message: the closest known name,
    then all of them (`; did you mean `radiology`? teams: oncology, radiology`)."""
    names = sorted(set(known))
    close = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
    hint = f"; did you mean `{close[0]}`?" if close else ";"
    return f"{hint} {noun}: {', '.join(names) or 'none yet'}"


class Problem(NamedTuple):
    """One thing wrong with a stack file: where (key path), what kind, what, and the value seen."""

    loc: tuple[str | int, ...]
    type: str
    message: str
    value: Any = None


_DNS_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")


def _dns_label(value: str) -> str:
    if not _DNS_LABEL.match(value) or len(value) > 40:
        raise PydanticCustomError(
            "dns_label",
            "must be lower-case letters, digits and '-', start with a letter, end with a letter or digit, "
            "and be at most 40 characters",
        )
    return value


DnsLabel = Annotated[str, AfterValidator(_dns_label)]
"""A Kubernetes object name that is also safe inside longer derived names (namespaces, releases)."""

_QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$")


def _quantity(value: str) -> str:
    if not _QUANTITY.match(value):
        raise PydanticCustomError("quantity", "not a Kubernetes quantity such as '500m', '64', '256Gi' or '2Ti'")
    return value


Quantity = Annotated[str, AfterValidator(_quantity)]
"""A Kubernetes resource quantity, kept as the string the API server parses."""


def _cidr(value: str) -> str:
    try:
        net = cidr.network(value)
    except cidr.CidrError as error:
        raise PydanticCustomError("cidr", "{why}", {"why": str(error)}) from None
    if net.prefixlen == 0:
        raise PydanticCustomError("cidr_open_to_world", "never open to the whole internet ({cidr}); list the networks that need access", {"cidr": value})
    return value


Cidr = Annotated[str, AfterValidator(_cidr)]
"""A network in CIDR notation, host bits clear, never a /0. Lists of them that allow access are
also held to hybridai/cidr.py's width rule (`check_allow_lists`)."""

def _idp_group(value: str) -> str:
    longest = catalog.limits().identity.group_max_length
    if any(unicodedata.category(c).startswith("C") for c in value):
        raise PydanticCustomError("idp_group", "holds a control or invisible character (a newline, a tab, …): no identity provider issues such a group; write its name as the provider shows it")
    if value != value.strip():
        raise PydanticCustomError("idp_group", "starts or ends with a space: the RoleBinding would name a group no one is in; remove the spaces")
    if not 1 <= len(value) <= longest:
        raise PydanticCustomError("idp_group", "an identity-provider group has 1 to {longest} characters (hybridai/data/limits.yaml)", {"longest": longest})
    return value


IdpGroup = Annotated[str, AfterValidator(_idp_group)]
"""A group the identity provider hands the API server, as a RoleBinding subject names it: printable,
no surrounding spaces, no longer than providers issue (limits.yaml `identity`)."""

ARGOCD_NAMESPACE = "argocd"
KUEUE_NAMESPACE = "kueue-system"
KSERVE_NAMESPACE = "kserve"
KEDA_NAMESPACE = "keda"
KARPENTER_NAMESPACE = "karpenter"
CERT_MANAGER_NAMESPACE = "cert-manager"
EXTERNAL_SECRETS_NAMESPACE = "external-secrets"
LWS_NAMESPACE = "lws-system"
WVA_NAMESPACE = "wva-system"
ENVOY_GATEWAY_NAMESPACE = "envoy-gateway-system"
AI_GATEWAY_NAMESPACE = "envoy-ai-gateway-system"
INFERENCE_GATEWAY_NAMESPACE = "inference-gateway"
"""Namespaces of platform components with fixed names (GitOps engine, training queues, serving,
the node autoscaler of cloud burst pools, certificates, secrets from a store; LLM serving:
LeaderWorkerSet, the workload-variant-autoscaler, Envoy Gateway and its proxies, Envoy AI Gateway's controller, and the inference
Gateway with its routes and policies)."""

Environment = Literal["prod", "staging", "dev"]

PriorityTier = Literal["production-inference", "training", "research"]
"""Scheduling tiers, highest first: production inference preempts training, training preempts research."""

DataClassification = Literal["phi", "confidential", "internal", "public"]
"""How sensitive the data a team's workloads touch is; `phi` is protected health information (HIPAA)."""


# --- Label values, URLs, remote paths, credentials, stack names --------------------------------

_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


def _label_value(value: str) -> str:
    if len(value) > 63 or not _LABEL_VALUE.match(value):
        raise PydanticCustomError(
            "label_value",
            "not a Kubernetes label value: at most 63 characters, letters, digits, '-', '_' and '.', "
            "starting and ending with a letter or digit",
        )
    return value


LabelValue = Annotated[str, AfterValidator(_label_value)]
"""A value written as a Kubernetes label value (the API server refuses anything else)."""

_URL_SECRET_PARAMS = re.compile(r"(token|secret|passw(or)?d|pwd|api[-_]?key|access[-_]?key|auth|signature|sig|credential)", re.IGNORECASE)
_SCP_LIKE = re.compile(r"^(?P<user>[A-Za-z0-9._-]+)@(?P<host>[A-Za-z0-9.-]+):(?P<path>[^\s]+)$")
URL_CREDENTIALS_FIX = (
    "credentials don't go in URLs (they would be written in plain text into manifests, helm/ and gitops/): "
    "the component reads them from a Kubernetes Secret it references, or they go in secure config (`pulumi config set --secret`)"
)


def _redact_url(value: str) -> str:
    """The URL with its user information replaced, safe to print."""
    scheme, sep, rest = value.partition("://")
    if not sep:
        return value
    authority, slash, path = rest.partition("/")
    if "@" in authority:
        authority = "***@" + authority.rsplit("@", 1)[1]
    return f"{scheme}://{authority}{slash}{path}"


def url(*schemes: str) -> Any:
    """The URL type of every URL field: absolute, one of `schemes`, a host, and never credentials
    (no `user:password@`, no `?token=`): a URL is written in plain text into manifests, Helm values
    and GitOps folders. ssh URLs may name a user (`ssh://git@host/…`, `git@host:org/repo.git`),
    never a password."""

    def check(value: str) -> str:
        if len(value) > 2048 or any(c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F for c in value):
            raise PydanticCustomError("url", "not a URL: at most 2048 characters, no spaces or control characters")
        if "ssh" in schemes and _SCP_LIKE.match(value):
            return value  # git's scp-like form, `git@host:org/repo.git`: a user name, no password
        try:
            parts = urlsplit(value)
            parts.port  # noqa: B018 - raises on a port that is no number
        except ValueError:
            raise PydanticCustomError("url", "not a URL") from None
        if parts.scheme not in schemes or not parts.hostname:
            raise PydanticCustomError("url", "not an absolute {schemes} URL with a host", {"schemes": " or ".join(f"{s}://" for s in schemes)})
        if parts.password is not None or (parts.username is not None and parts.scheme != "ssh"):
            raise PydanticCustomError("url_credentials", "URL holds credentials (`user:…@`); " + URL_CREDENTIALS_FIX, {"redacted": _redact_url(value)})
        if any(_URL_SECRET_PARAMS.search(name) for name, _ in parse_qsl(parts.query, keep_blank_values=True)):
            raise PydanticCustomError("url_credentials", "URL holds credentials in its query; " + URL_CREDENTIALS_FIX, {"redacted": value.split("?", 1)[0] + "?***"})
        return value

    return Annotated[str, AfterValidator(check)]


HttpsUrl = url("https")
"""An https:// URL without credentials."""
HttpUrl = url("https", "http")
"""An http:// or https:// URL without credentials (for endpoints inside a site's own network)."""
GitUrl = url("https", "ssh")
"""A Git repository URL without credentials: https://, ssh:// or `git@host:org/repo.git`."""

_REMOTE_NAME = re.compile(r"^[A-Za-z0-9_.+@]([A-Za-z0-9_.+@ -]*[A-Za-z0-9_.+@-])?$")


def _remote_path(value: str) -> str:
    remote, sep, _path = value.partition(":")
    if value.startswith(":") or "," in remote:
        raise PydanticCustomError(
            "url_credentials",
            "rclone connection strings (`:s3,…:`, `remote,key=value:`) carry settings and credentials in plain text; "
            "define the remote in the rclone.conf of `modelSourceSecret` and write `remote:path`",
            {"redacted": value.split(",", 1)[0] + ",***" if "," in value else value},
        )
    if "://" in value and "@" in value.split("://", 1)[1].split("/", 1)[0]:
        raise PydanticCustomError("url_credentials", "holds credentials (`user:…@`); " + URL_CREDENTIALS_FIX, {"redacted": _redact_url(value)})
    if not sep or "://" in value or not _REMOTE_NAME.match(remote) or any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        raise PydanticCustomError(
            "remote_path",
            "not an rclone remote path `remote:path` (a remote name: letters, digits, '_', '-', '.', '+', '@' and spaces inside)",
        )
    return value


RemotePath = Annotated[str, AfterValidator(_remote_path)]
"""An rclone `remote:path` naming a configured remote: its settings and credentials stay in a
Secret (the sync's rclone.conf), never in the path (connection strings are refused)."""


class CredentialMarker:
    """Marks a stack key whose value is a credential (see `Credential`)."""

    def __repr__(self) -> str:
        return "CREDENTIAL"


CREDENTIAL = CredentialMarker()


class CredentialValue(SecretStr):
    """A credential from the stack config: printed as `**********`, refused by Pulumi as a resource
    input (no plain-text path to a resource), handed to resources only through `output()`."""

    def output(self) -> Any:
        """The value as a Pulumi secret Output: encrypted in state, `[secret]` in previews and plans."""
        import pulumi  # config holds values; only the hand-over to a resource needs the SDK

        return pulumi.Output.secret(self.get_secret_value())


CREDENTIAL_STAND_IN = "[secret]"
"""What the offline plan uses for a `secure:` value it can't decrypt (hybridai/config/loader.py); the
engine lists its key as secret, and a credential reaches resources only as a Pulumi secret:
artifacts show `[secret…]`. Error messages show it in place of a credential's value."""


def _stand_in(value: Any, handler: Any) -> Any:
    # The offline plan's stand-in passes the credential's own checks: they apply to the decrypted
    # value, which only `pulumi up` sees.
    if value == CREDENTIAL_STAND_IN:
        return CredentialValue(value)
    return handler(value)


Credential = Annotated[CredentialValue, CREDENTIAL, WrapValidator(_stand_in)]
"""A key that holds a credential. It may only be set as an encrypted `secure:` value
(`pulumi config set --secret`); a plain-text value is refused. Under `pulumi up` the program gets
it decrypted and hands it to resources as `pulumi.Output.secret` (`CredentialValue.output()`); the
offline plan can't decrypt it and uses a stand-in, so every artifact shows `[secret…]`. Constrain
a credential with `Field(min_length=…)` or an AfterValidator reading `get_secret_value()`."""


def is_credential(info: Any) -> bool:
    """Whether a pydantic field (its FieldInfo) holds a `Credential` (also as `Credential | None`)."""
    return any(m is CREDENTIAL for m in getattr(info, "metadata", ())) or _holds_credential(getattr(info, "annotation", None))


def _holds_credential(annotation: Any) -> bool:
    if isinstance(annotation, type) and issubclass(annotation, CredentialValue):
        return True
    if any(m is CREDENTIAL for m in getattr(annotation, "__metadata__", ())):
        return True
    return any(_holds_credential(arg) for arg in getattr(annotation, "__args__", ()) if arg is not annotation)


def may_hold_credential(model: type[BaseModel] | None, loc: tuple) -> bool:
    """Whether the value at a key path of `model` is, is inside, or may contain a credential: a
    field on the path is a `Credential`, or the field there holds a model with one at any depth
    (`secrets.sources[].values`, whatever shape the file gave it)."""
    keys = tuple(part for part in loc if not isinstance(part, int))
    for n in range(1, len(keys) + 1):
        info = field_at(model, keys[:n])
        if info is None:
            return False
        if is_credential(info):
            return True
    return _model_holds_credential(model_at(model, keys), set())


def _model_holds_credential(model: type[BaseModel] | None, seen: set) -> bool:
    if model is None or model in seen:
        return False
    seen.add(model)
    return any(is_credential(info) or _model_holds_credential(model_of(info.annotation), seen) for info in model.model_fields.values())


def model_of(annotation: Any) -> type[BaseModel] | None:
    """The model a field's annotation holds (also inside `list[…]` or `… | None`), or None."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = model_of(arg)
        if found:
            return found
    return None


def _field_named(model: type[BaseModel], key: str) -> Any:
    return next((f for f in model.model_fields.values() if f.alias == key), None)


def model_at(model: type[BaseModel] | None, loc: tuple) -> type[BaseModel] | None:
    """The model a key path (stack-file keys, list indexes skipped) leads to, or None."""
    for part in loc:
        if isinstance(part, int):
            continue
        info = _field_named(model, part) if model is not None else None
        model = model_of(info.annotation) if info is not None else None
    return model


def field_at(model: type[BaseModel] | None, loc: tuple) -> Any:
    """The pydantic field (its FieldInfo) at a key path of the model (list indexes skipped), or None."""
    keys = tuple(part for part in loc if not isinstance(part, int))
    parent = model_at(model, keys[:-1]) if keys else None
    return _field_named(parent, keys[-1]) if parent is not None else None


_STACK_NAME = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,99}$")


def stack_name_problem(name: str) -> str | None:
    """Why `name` can't be a stack name, or None. The rule is Pulumi's (`pulumi stack init`: "stack
    names are limited to 100 characters and may only contain alphanumeric, hyphens, underscores, or
    periods"), and a name may not start with '.': it names stacks/Pulumi.<name>.yaml, so no path
    separators, no `..`, and no `::` (which would break the URNs built from it)."""
    if _STACK_NAME.match(name):
        return None
    shown = name if len(name) <= 60 else name[:57] + "..."
    return (
        f"{shown!r} is not a stack name: use letters, digits, '-', '_' and '.', at most 100 characters, "
        "not starting with '.' (Pulumi's rule for stack names; no '/', '\\' or ':')"
    )
