"""What every module's args share: each field documented where it is declared, and the on-prem
object store's bucket and key named alike by every module keeping data there."""
from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

from hybridai.modules.base import Args, StoreBucketArgs
from hybridai.modules.logging import ArchiveArgs
from tests.conftest import ROOT
from tests.helpers import prepared

MODULES = sorted(p.stem for p in (ROOT / "modules").glob("*.py") if p.stem != "__init__")
REWORKED_ELSEWHERE = {"gpu_node_pools"}
"""Modules whose args another change of #24 rewrites (the GPU node-pool type, config → capacity →
module); they join this check when it lands."""


def undocumented(module: str) -> list[str]:
    """`<Args class>.<field>` of each field declared in `module` without a docstring under it."""
    loaded = importlib.import_module(f"hybridai.modules.{module}")
    missing = []
    for node in ast.parse(Path(loaded.__file__).read_text()).body:
        declared = getattr(loaded, node.name, None) if isinstance(node, ast.ClassDef) else None
        if not (isinstance(declared, type) and issubclass(declared, Args)):
            continue
        for field, after in zip(node.body, [*node.body[1:], None]):
            if isinstance(field, ast.AnnAssign) and isinstance(field.target, ast.Name) and field.target.id in declared.model_fields:
                documented = isinstance(after, ast.Expr) and isinstance(after.value, ast.Constant) and isinstance(after.value.value, str)
                if not documented:
                    missing.append(f"{node.name}.{field.target.id}")
    return missing


@pytest.mark.parametrize("module", [m for m in MODULES if m not in REWORKED_ELSEWHERE])
def test_every_args_field_says_what_it_is_and_why_its_default(module: str) -> None:
    # GIVEN a module's args classes THEN every field they declare has its docstring
    assert undocumented(module) == []


def test_a_component_names_the_stacks_store_bucket_and_key_as_the_stack_does() -> None:
    # GIVEN finance-prod's audit archive WHEN a module's args name it
    spec, _ = prepared("finance-prod")
    archive = spec.logging.audit_archive
    args = ArchiveArgs.of(archive)
    # THEN the endpoint, bucket, region and both keys are the stack's, besides the module's own fields
    assert isinstance(args, StoreBucketArgs)
    assert (args.endpoint, args.bucket, args.region, args.access_key_id, args.secret_access_key) == (
        archive.endpoint, archive.bucket, archive.region, archive.access_key_id, archive.secret_access_key
    )
    assert (args.lock_mode, args.lock_days) == (archive.object_lock.mode, archive.object_lock.retention_days)
