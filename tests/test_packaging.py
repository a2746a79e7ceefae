"""pyproject.toml's declared versions agree with what scripts/test.sh tests.

The "oldest" tier installs scripts/constraints-lowest.txt: every lower bound pyproject
declares for a runtime dependency (``dependencies`` and the backend extras), pinned. If a
bound moves and the file does not (or the other way round), that tier would test versions
the package does not claim, so this fails.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

if sys.version_info >= (3, 11):
    import tomllib
else:  # pytest itself depends on tomli before 3.11
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
CONSTRAINTS = ROOT / "scripts" / "constraints-lowest.txt"
TEST_SH = ROOT / "scripts" / "test.sh"
RUNTIME_EXTRAS = ("s3", "crt", "google", "azure")


def _lower_bound(requirement: Requirement) -> Version | None:
    bounds = [Version(s.version) for s in requirement.specifier if s.operator in (">=", "==")]
    return max(bounds) if bounds else None


def declared_lower_bounds() -> dict[str, Version]:
    """Name -> lower bound over ``dependencies`` and the backend extras; a package
    named in several places must have one bound."""
    project = PYPROJECT["project"]
    lines = list(project["dependencies"])
    for extra in RUNTIME_EXTRAS:
        lines += project["optional-dependencies"][extra]
    bounds: dict[str, Version] = {}
    for line in lines:
        requirement = Requirement(line)
        name = canonicalize_name(requirement.name)
        bound = _lower_bound(requirement)
        assert bound is not None, f"pyproject.toml: {line!r} has no lower bound"
        assert bounds.setdefault(name, bound) == bound, (
            f"pyproject.toml: {name} has two lower bounds, {bounds[name]} and {bound}"
        )
    return bounds


def constraints() -> dict[str, Requirement]:
    result: dict[str, Requirement] = {}
    for raw in CONSTRAINTS.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if line:
            requirement = Requirement(line)
            result[canonicalize_name(requirement.name)] = requirement
    return result


def test_lowest_constraints_match_pyproject_lower_bounds() -> None:
    declared = declared_lower_bounds()
    pinned = constraints()
    assert sorted(pinned) == sorted(declared), (
        f"{CONSTRAINTS.name} names {sorted(pinned)}, pyproject.toml bounds {sorted(declared)}"
    )
    for name, bound in declared.items():
        requirement = pinned[name]
        assert _lower_bound(requirement) == bound and bound in requirement.specifier, (
            f"{CONSTRAINTS.name}: {requirement} does not start at pyproject's {name}>={bound}"
        )
        # Exact pins, except Django: the latest release of its oldest supported series.
        operators = {s.operator for s in requirement.specifier}
        if name == "django":
            series = Version(f"{bound.major}.{bound.minor + 1}")
            assert series not in requirement.specifier and operators == {">=", "<"}, (
                f"{CONSTRAINTS.name}: {requirement} should stay within Django {bound}.x"
            )
        else:
            assert operators == {"=="}, f"{CONSTRAINTS.name}: pin {name} exactly (==)"


def test_django_classifiers_are_the_series_test_sh_runs() -> None:
    tiers = set(re.findall(r"Django>=(\d+\.\d+),<", TEST_SH.read_text()))
    tiers.add(str(declared_lower_bounds()["django"]))
    classifiers = {
        c.rsplit(" :: ", 1)[1]
        for c in PYPROJECT["project"]["classifiers"]
        if re.fullmatch(r"Framework :: Django :: \d+\.\d+", c)
    }
    assert classifiers == tiers


def test_oldest_tier_runs_the_oldest_python() -> None:
    oldest = PYPROJECT["project"]["requires-python"].removeprefix(">=")
    assert re.search(rf"tier_venv \.venv-oldest {re.escape(oldest)} ", TEST_SH.read_text())
    classifiers = [
        c.rsplit(" :: ", 1)[1]
        for c in PYPROJECT["project"]["classifiers"]
        if re.fullmatch(r"Programming Language :: Python :: 3\.\d+", c)
    ]
    assert min(classifiers, key=Version) == oldest
