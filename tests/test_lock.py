"""requirements.lock: one resolved set of exact versions, used as constraints by every install — the
README's and .ci/run's (`pip install -e '.[test]' -c requirements.lock`), `pulumi install`'s
(requirements.txt) and the policy pack's (a copy, policy/wheels/constraints.txt)."""
from __future__ import annotations

import importlib.metadata
import re
import tomllib

import yaml
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from tests.conftest import ROOT

LOCK = ROOT / "requirements.lock"
# The command that made the lock, as docs/deploying.md tells maintainers to run it.
COMPILE = "uv pip compile pyproject.toml --extra test --universal --python-version 3.11 -o requirements.lock"


def locked() -> dict[str, tuple[Version, Marker | None]]:
    """Each locked package: its exact version and the marker, if any, that limits where it installs."""
    pins: dict[str, tuple[Version, Marker | None]] = {}
    for number, raw in enumerate(LOCK.read_text().splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        requirement = Requirement(line)  # raises on options (-e, --hash, -i) and anything not PEP 508
        assert requirement.url is None and not requirement.extras, f"requirements.lock:{number}: {raw!r} is not a plain pin"
        specifiers = list(requirement.specifier)
        assert len(specifiers) == 1 and specifiers[0].operator == "==" and "*" not in specifiers[0].version, f"requirements.lock:{number}: {raw!r} doesn't pin one exact version"
        name = canonicalize_name(requirement.name)
        assert name not in pins, f"requirements.lock:{number}: {name} pinned twice"
        pins[name] = (Version(specifiers[0].version), requirement.marker)
    return pins


def project_requirements() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return [Requirement(r) for r in [*project["dependencies"], *project["optional-dependencies"]["test"]]]


def test_lock_pins_exact_versions_only() -> None:
    # GIVEN the lock, THEN every line is `name==version` (with a platform marker at most): no ranges,
    # no URLs, no editable or index options
    pins = locked()
    assert len(pins) > 40
    # (platform or implementation markers only: cffi needs pycparser on CPython, not on PyPy)
    allowed = {'sys_platform == "win32"', 'implementation_name != "PyPy"'}
    assert {str(marker) for _, marker in pins.values() if marker} <= allowed, "a pin only for some Pythons: the lock should hold for 3.11 and later alike"


def test_lock_covers_and_satisfies_every_runtime_and_test_requirement() -> None:
    # GIVEN pyproject.toml's dependencies and its test extra
    pins = locked()
    for requirement in project_requirements():
        name = canonicalize_name(requirement.name)
        # THEN each is locked, at a version its range admits
        assert name in pins, f"{requirement} is not in requirements.lock: regenerate it ({COMPILE})"
        version, _ = pins[name]
        assert requirement.specifier.contains(version, prereleases=True), f"requirements.lock pins {name}=={version}, outside {requirement}: regenerate it"
    # AND the lock doesn't pin the project itself (it's installed from the checkout)
    assert "hybrid-ai" not in pins


def test_lock_is_closed_under_the_installed_dependencies() -> None:
    # GIVEN the distributions installed here (from the lock, see the next test), walked from the
    # project's requirements through each one's own metadata
    pins = locked()
    environment = {"extra": ""}
    todo = [(r, "test") for r in project_requirements()]
    seen: set[tuple[str, str]] = set()
    missing, outside = [], []
    while todo:
        requirement, extra = todo.pop()
        if requirement.marker and not requirement.marker.evaluate({**environment, "extra": extra}):
            continue
        name = canonicalize_name(requirement.name)
        # THEN every dependency the environment needs is locked, at a version that satisfies it
        if name not in pins:
            missing.append(str(requirement))
            continue
        if not requirement.specifier.contains(pins[name][0], prereleases=True):
            outside.append(f"{requirement} (locked {pins[name][0]})")
        for wanted in [*requirement.extras, ""]:
            if (name, wanted) in seen:
                continue
            seen.add((name, wanted))
            todo += [(Requirement(r), wanted) for r in importlib.metadata.requires(name) or []]
    assert missing == [] and outside == [], f"requirements.lock is incomplete or stale; regenerate it ({COMPILE})"


def test_the_environment_running_the_tests_has_the_locked_versions() -> None:
    # GIVEN every locked package this platform installs
    installed = {}
    for name, (version, marker) in locked().items():
        if marker and not marker.evaluate():
            continue
        # THEN the environment running the tests has exactly that version (CI installs the lock)
        installed[name] = Version(importlib.metadata.version(name))
    wrong = {name: f"{installed[name]} installed, {version} locked" for name, (version, marker) in locked().items() if name in installed and installed[name] != version}
    assert wrong == {}, "reinstall: .venv/bin/pip install -e '.[test]' -c requirements.lock"


def test_lock_was_made_by_the_documented_command() -> None:
    # GIVEN the lock's header and the maintainers' instructions, THEN they name the same command:
    # universal (every platform), for Python 3.11 and later, runtime and test dependencies
    header = LOCK.read_text().splitlines()[:2]
    assert header[1].strip("# ") == COMPILE
    assert COMPILE in (ROOT / "docs" / "deploying.md").read_text()


def test_every_install_takes_the_lock() -> None:
    # GIVEN requirements.txt (what `pulumi install` installs), THEN it is the project constrained by the lock
    lines = [line for line in (ROOT / "requirements.txt").read_text().splitlines() if line and not line.startswith("#")]
    assert lines == ["-c requirements.lock", "-e ."]
    # AND the README's install command and .ci/run use the lock the same way, and the workflows'
    # test job runs .ci/run
    install = "-e '.[test]' -c requirements.lock"
    assert install in (ROOT / "README.md").read_text()
    assert install in (ROOT / ".ci" / "run").read_text()
    [job] = [j for j in yaml.safe_load((ROOT / ".github" / "workflows" / "pull-request.yml").read_text())["jobs"].values() if j["name"] == "tests"]
    assert job["steps"][-1]["run"] == "bash .ci/run"
    # AND no install anywhere in the workflows or their scripts bypasses it
    for path in [*(ROOT / ".github").rglob("*.yml"), *(ROOT / ".github" / "scripts").glob("*.sh"), ROOT / ".ci" / "run"]:
        for command in re.findall(r"pip install[^\n|&;)]*", path.read_text()):
            # (the evidence-signing job installs only sigstore-python, from its own hash-pinned file)
            hashed = command.strip() == "pip install --require-hashes -r .github/scripts/sigstore-requirements.txt"
            assert "requirements.lock" in command or "-r requirements.txt" in command or hashed, f"{path.relative_to(ROOT)}: `{command}` installs without the lock"
