"""`hybridai charts pull` against a real Helm HTTP repository and a real OCI registry on loopback."""
from __future__ import annotations

import io
import socket
import tarfile
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from hybridai import catalog
from hybridai.cli import app
from hybridai.supply import reference
from hybridai.supply.charts import REFERENCE, RECORD, cache_dir, pull, reference_tree, template_crds
from hybridai.supply.transport import SupplyError
from tests.harness.upstream import _crds
from tests.supply.conftest import TEMPLATED_CRD, ChartRepository, chart_archive, push_chart, sha256


def _cache_files(cache: Path) -> list[str]:
    return sorted(str(p.relative_to(cache)) for p in cache.rglob("*")) if cache.exists() else []


def test_a_chart_from_an_http_repository_is_verified_and_extracted_in_the_harness_layout(chart_repository: ChartRepository, tmp_path: Path) -> None:
    # GIVEN a Helm repository whose index publishes a chart's digest
    archive = chart_archive("demo", "1.2.3", values={"image": {"repository": "example.io/demo", "tag": "1.2.3"}})
    pin = chart_repository.add("demo", "1.2.3", archive)
    cache = tmp_path / "cache"
    # WHEN the pinned chart is pulled
    [pulled] = pull({"demo": pin}, cache)
    # THEN its archive matched the published digest, and the tree the cache points to holds its
    # Chart.yaml, values.yaml and both CRDs (crds/ and the templated one) under the pin's folder
    assert pulled.digest == f"sha256:{sha256(archive)}"
    assert pulled.source == f"{chart_repository.url}/demo-1.2.3.tgz"
    tree = reference_tree(cache)
    assert tree is not None and (cache / REFERENCE).is_symlink()
    folder = tree / "demo" / "1.2.3"
    assert yaml.safe_load((folder / "values.yaml").read_text()) == {"image": {"repository": "example.io/demo", "tag": "1.2.3"}}
    assert yaml.safe_load((folder / "Chart.yaml").read_text())["version"] == "1.2.3"
    assert sorted(p.name for p in (folder / "crds").iterdir()) == ["demo-templates-gadgets-crd.yaml", "demo-widgets.yaml"]
    gadget = yaml.safe_load((folder / "crds" / "demo-templates-gadgets-crd.yaml").read_text())
    assert gadget["spec"]["names"]["kind"] == "Gadget" and "labels" in gadget["metadata"]
    assert pulled.crds_from_templates == ("templates/gadgets-crd.yaml",)
    # AND the archive is kept content-addressed, the record says what was pulled
    assert (cache / "blobs" / "sha256" / sha256(archive)).read_bytes() == archive
    assert yaml.safe_load((tree / RECORD).read_text())[0]["digest"] == pulled.digest


def test_the_resolver_reads_the_cache_when_shared_upstream_is_absent(chart_repository: ChartRepository, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN no ../shared/upstream, and a chart pulled into the folder a pinned chart's reference data lives in
    monkeypatch.setenv(catalog.UPSTREAM_ENV, str(tmp_path / "no-upstream"))
    monkeypatch.setenv("HYBRIDAI_CHART_CACHE", str(tmp_path / "cache"))
    assert reference.reference_data() is None
    assert "hybridai charts pull" in reference.missing_reason()
    karpenter = catalog.chart("karpenter")
    pin = chart_repository.add("demo", "1.0.0", chart_archive("demo", "1.0.0")).model_copy(update={"upstream": karpenter.upstream})
    pull({"demo": pin}, cache_dir())
    # WHEN the harness asks where the reference data is
    data = reference.reference_data()
    # THEN it is the cache's tree, and the harness reads the pulled CRDs from it as a pinned folder's
    assert data is not None and data.kind == "cache" and data.root == reference_tree(tmp_path / "cache")
    assert set(_crds(data.root)) == {("example.io/v1", "Widget"), ("example.io/v1", "Gadget")}
    # AND with the shared copy present it wins
    (tmp_path / "no-upstream").mkdir()
    assert reference.reference_data() == reference.ReferenceData("upstream", tmp_path / "no-upstream")


def test_charts_sharing_a_folder_are_named_by_chart(chart_repository: ChartRepository, tmp_path: Path) -> None:
    # GIVEN two pinned charts whose reference data shares one folder (as KServe's do)
    a = chart_repository.add("alpha", "0.1.0", chart_archive("alpha", "0.1.0", values={"a": 1}))
    b = chart_repository.add("beta", "0.1.0", chart_archive("beta", "0.1.0", values={"b": 2}))
    shared = {"alpha": a.model_copy(update={"upstream": "suite/v1"}), "beta": b.model_copy(update={"upstream": "suite/v1"})}
    # WHEN pulled THEN each chart's files carry its name, as in ../shared/upstream
    pull(shared, tmp_path / "cache")
    folder = reference_tree(tmp_path / "cache") / "suite" / "v1"
    assert yaml.safe_load((folder / "alpha-values.yaml").read_text()) == {"a": 1}
    assert yaml.safe_load((folder / "beta-values.yaml").read_text()) == {"b": 2}
    assert not (folder / "values.yaml").exists()


def test_a_digest_mismatch_is_refused_and_the_cache_keeps_its_last_pull(chart_repository: ChartRepository, tmp_path: Path) -> None:
    # GIVEN a cache holding a good pull, then a repository whose index digest doesn't match the archive
    cache = tmp_path / "cache"
    good = chart_repository.add("demo", "1.0.0", chart_archive("demo", "1.0.0"))
    pull({"demo": good}, cache)
    before = reference_tree(cache)
    bad = chart_repository.add("other", "2.0.0", chart_archive("other", "2.0.0"), digest="0" * 64)
    # WHEN both are pulled THEN the pull is refused naming the chart and both digests
    with pytest.raises(SupplyError, match=r"^other: .*other-2.0.0.tgz hashes to sha256:[0-9a-f]{64}, but its repository publishes sha256:0{64}; refusing it"):
        pull({"demo": good, "other": bad}, cache)
    # AND the cache still points at the last complete tree, with no partial download or staging left
    assert reference_tree(cache) == before
    assert not [f for f in _cache_files(cache) if ".part-" in f or ".staging-" in f or "0" * 64 in f]


def test_a_version_the_index_lacks_is_refused(chart_repository: ChartRepository, tmp_path: Path) -> None:
    pin = chart_repository.add("demo", "1.0.0", chart_archive("demo", "1.0.0")).model_copy(update={"version": "9.9.9"})
    with pytest.raises(SupplyError, match=r"^demo: demo 9.9.9 is not in http://127.0.0.1:\d+/charts/index.yaml \(versions listed first there: 1.0.0\)"):
        pull({"demo": pin}, tmp_path / "cache")
    assert reference_tree(tmp_path / "cache") is None


def test_an_index_entry_without_a_digest_is_refused(chart_repository: ChartRepository, tmp_path: Path) -> None:
    pin = chart_repository.add("demo", "1.0.0", chart_archive("demo", "1.0.0"), digest=None)
    with pytest.raises(SupplyError, match="publishes no digest for demo 1.0.0, so its archive can't be verified"):
        pull({"demo": pin}, tmp_path / "cache")


def test_a_chart_whose_chart_yaml_names_another_version_is_refused(chart_repository: ChartRepository, tmp_path: Path) -> None:
    pin = chart_repository.add("demo", "1.0.0", chart_archive("demo", "1.0.1"))
    with pytest.raises(SupplyError, match=r"Chart.yaml says \(name, version\) \('demo', '1.0.1'\), not \('demo', '1.0.0'\)"):
        pull({"demo": pin}, tmp_path / "cache")


@pytest.mark.parametrize(
    ("member", "error"),
    [
        ("../evil.yaml", r"holds '../evil.yaml', outside its chart folder demo/"),
        ("demo/../../evil.yaml", r"holds 'demo/../../evil.yaml', outside its chart folder demo/"),
        ("/tmp/evil.yaml", r"holds '/tmp/evil.yaml', outside its chart folder demo/"),
        ("other/evil.yaml", r"holds 'other/evil.yaml', outside its chart folder demo/"),
    ],
)
def test_an_archive_with_paths_outside_its_chart_folder_is_refused(chart_repository: ChartRepository, tmp_path: Path, member: str, error: str) -> None:
    # GIVEN a correctly published archive holding a member outside its chart's folder
    pin = chart_repository.add("demo", "1.0.0", chart_archive("demo", "1.0.0", extra={member: b"owned: true\n"}))
    # WHEN pulled THEN it is refused and nothing lands outside the cache's staging
    with pytest.raises(SupplyError, match=error):
        pull({"demo": pin}, tmp_path / "cache")
    assert not list(tmp_path.rglob("evil.yaml"))
    assert reference_tree(tmp_path / "cache") is None


def test_an_archive_with_a_link_out_of_its_folder_is_refused(chart_repository: ChartRepository, tmp_path: Path) -> None:
    # GIVEN an archive whose chart folder holds a symlink pointing out of it (tarfile's data filter's case)
    buffer = io.BytesIO(chart_archive("demo", "1.0.0"))
    out = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="r:gz") as src, tarfile.open(fileobj=out, mode="w:gz") as dst:
        for member in src.getmembers():
            dst.addfile(member, src.extractfile(member))
        link = tarfile.TarInfo("demo/templates/passwd.yaml")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        dst.addfile(link)
    pin = chart_repository.add("demo", "1.0.0", out.getvalue())
    # WHEN pulled THEN the data filter's refusal is reported naming the member
    with pytest.raises(SupplyError, match=r"holds 'demo/templates/passwd.yaml', which extracting would refuse"):
        pull({"demo": pin}, tmp_path / "cache")


def test_a_repository_answering_500_is_retried(chart_repository: ChartRepository, tmp_path: Path) -> None:
    # GIVEN a repository whose index and archive each fail once with a 500
    pin = chart_repository.add("demo", "1.0.0", chart_archive("demo", "1.0.0"))
    chart_repository.fail_next.update({"charts/index.yaml": 1, "charts/demo-1.0.0.tgz": 1})
    # WHEN pulled THEN the retries get them, and the chart is verified
    [pulled] = pull({"demo": pin}, tmp_path / "cache")
    assert chart_repository.served["charts/index.yaml"] == 2 and chart_repository.served["charts/demo-1.0.0.tgz"] == 2
    assert reference_tree(tmp_path / "cache") is not None and pulled.version == "1.0.0"


def test_a_repository_failing_every_retry_is_reported_with_its_status(chart_repository: ChartRepository, tmp_path: Path) -> None:
    pin = chart_repository.add("demo", "1.0.0", chart_archive("demo", "1.0.0"))
    chart_repository.fail_next["charts/index.yaml"] = 10
    with pytest.raises(SupplyError, match=r"^demo: http://127.0.0.1:\d+/charts/index.yaml answered 500 .* for the repository's index"):
        pull({"demo": pin}, tmp_path / "cache")


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_an_unreachable_repository_names_the_chart_and_writes_nothing(tmp_path: Path) -> None:
    # GIVEN a pin whose repository doesn't answer, beside an OCI one that doesn't either
    port = _closed_port()
    pins = {
        "demo": catalog.ChartPin(chart="demo", repository=f"http://127.0.0.1:{port}/charts", version="1.0.0", upstream="demo/1.0.0"),
    }
    cache = tmp_path / "cache"
    # WHEN pulled THEN the error names the chart and the address, and the cache holds no tree
    with pytest.raises(SupplyError, match=rf"^demo: can't reach http://127.0.0.1:{port}/charts/index.yaml for the repository's index"):
        pull(pins, cache)
    oci = {"kueue": catalog.ChartPin(chart="kueue", repository=f"oci://127.0.0.1:{port}/charts", version="0.1.0", upstream="kueue/0.1.0")}
    with pytest.raises(SupplyError, match=rf"^kueue: can't reach oci://127.0.0.1:{port}/charts/kueue:0.1.0"):
        pull(oci, cache)
    assert reference_tree(cache) is None
    assert [f for f in _cache_files(cache) if not f.startswith(("blobs", "trees"))] == []


def test_a_chart_from_an_oci_registry_is_verified_against_the_registrys_digests(oci_registry: str, tmp_path: Path) -> None:
    # GIVEN a chart pushed to a real registry as `helm push` does
    archive = chart_archive("ocidemo", "0.19.2")
    push_chart(oci_registry, "pull-oci/charts", "ocidemo", "0.19.2", archive, tmp_path / "push")
    pin = catalog.ChartPin(chart="ocidemo", repository=f"oci://{oci_registry}/pull-oci/charts", version="0.19.2", upstream="ocidemo/v0.19.2")
    # WHEN it is pulled THEN its layer's digest is the archive's, and its values and CRDs are extracted
    [pulled] = pull({"ocidemo": pin}, tmp_path / "cache")
    assert pulled.digest == f"sha256:{sha256(archive)}"
    assert pulled.source == f"oci://{oci_registry}/pull-oci/charts/ocidemo:0.19.2"
    folder = reference_tree(tmp_path / "cache") / "ocidemo" / "v0.19.2"
    assert (folder / "values.yaml").is_file() and (folder / "crds" / "ocidemo-widgets.yaml").is_file()


def test_a_tag_the_registry_lacks_is_refused(oci_registry: str, tmp_path: Path) -> None:
    push_chart(oci_registry, "pull-missing/charts", "ocidemo", "1.0.0", chart_archive("ocidemo", "1.0.0"), tmp_path / "push")
    pin = catalog.ChartPin(chart="ocidemo", repository=f"oci://{oci_registry}/pull-missing/charts", version="1.0.1", upstream="ocidemo/1.0.1")
    with pytest.raises(SupplyError, match=r"^ocidemo: oci://.*/pull-missing/charts/ocidemo:1.0.1 is not in the registry \(no such tag\)"):
        pull({"ocidemo": pin}, tmp_path / "cache")


def test_template_crds_skips_documents_that_are_not_crds() -> None:
    text = TEMPLATED_CRD + "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\n"
    assert [d["spec"]["names"]["kind"] for d in template_crds(text)] == ["Gadget"]
    assert template_crds("kind: Deployment\n") == []


def test_cli_pull_writes_the_cache_or_exits_2_naming_the_chart(chart_repository: ChartRepository, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN versions.yaml pinning one chart of the loopback repository
    pin = chart_repository.add("demo", "1.0.0", chart_archive("demo", "1.0.0"))
    pins = catalog.versions().model_copy(update={"charts": {"demo": pin}})
    monkeypatch.setattr(catalog, "versions", lambda: pins)
    # WHEN `hybridai charts pull --cache DIR` runs THEN it lists the verified chart and exits 0
    result = CliRunner().invoke(app, ["charts", "pull", "--cache", str(tmp_path / "cache")])
    assert result.exit_code == 0, result.output
    assert f"demo                       1.0.0      sha256:{sha256(chart_archive('demo', '1.0.0'))}" in result.output
    assert reference_tree(tmp_path / "cache") is not None
    # AND with the pin at a version the repository lacks it exits 2 saying so
    missing = pins.model_copy(update={"charts": {"demo": pin.model_copy(update={"version": "2.0.0"})}})
    monkeypatch.setattr(catalog, "versions", lambda: missing)
    result = CliRunner().invoke(app, ["charts", "pull", "--cache", str(tmp_path / "other")])
    assert result.exit_code == 2
    assert "error: demo: demo 2.0.0 is not in" in result.output and f"(nothing written to {tmp_path / 'other'})" in result.output
