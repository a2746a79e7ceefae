"""Results of the runs: one record per run, Markdown tables, speed-ups, target checks."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

COLUMNS = ("List", "HEAD", "GET", "PUT", "COPY", "DELETE", "other")


@dataclass
class Check:
    """The bucket compared with a local ManifestStaticFilesStorage collect."""

    expected: int = 0  # objects the local collect wrote
    missing: list[str] = field(default_factory=list)
    different: list[str] = field(default_factory=list)
    extra: int = 0  # other objects under the prefix (e.g. older hashed copies)

    @property
    def ok(self) -> bool:
        return self.expected > 0 and not self.missing and not self.different

    def describe(self) -> str:
        if self.ok:
            return f"OK ({self.expected} objects" + (
                f", {self.extra} extra)" if self.extra else ")"
            )
        shown = (self.missing + self.different)[:3]
        return (
            f"FAIL ({len(self.missing)} missing, {len(self.different)} different of "
            f"{self.expected}: {', '.join(shown)})"
        )


@dataclass
class Run:
    scenario: str
    variant: str
    label: str
    returncode: int
    wall: float
    max_rss_mib: float
    cpu: float  # CPU seconds of the collectstatic process
    load: float  # 1-minute load average when the run started
    counts: dict[str, int]  # proxy operation -> requests
    ops: dict[str, int]  # table column -> requests
    check: Check
    object_writes: int = 0  # requests that create one object each (PutObject & co)
    errors: int = 0  # answers with status >= 400 or reset connections
    output_tail: str = ""

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and self.check.ok

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.update(total=self.total, ok=self.ok)
        data["check"]["ok"] = self.check.ok
        return data


def _ratio(slow: Run | None, fast: Run | None) -> float | None:
    if slow is None or fast is None or not (slow.ok and fast.ok) or fast.wall <= 0:
        return None
    return slow.wall / fast.wall


def _fmt_ratio(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f}x"


def scenario_table(title: str, runs: list[Run]) -> str:
    head = ["variant", "wall s", "CPU s", "requests", *COLUMNS, "peak RSS MiB", "load", "bucket"]
    lines = [f"### {title}", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for run in runs:
        cells = [
            run.label,
            f"{run.wall:.2f}",
            f"{run.cpu:.2f}",
            str(run.total),
            *(str(run.ops.get(col, 0)) for col in COLUMNS),
            f"{run.max_rss_mib:.0f}",
            f"{run.load:.1f}",
            run.check.describe()
            if run.returncode == 0
            else f"exit {run.returncode}; " + run.check.describe(),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    by_key = {run.variant: run for run in runs}
    preload = by_key.get("preload")
    if preload is not None:
        parts = [f"preloadstorage vs stock: {_fmt_ratio(_ratio(by_key.get('stock'), preload))}"]
        if "collectfasta" in by_key:
            cf = _ratio(by_key["collectfasta"], preload)
            parts.append(f"vs Collectfasta: {_fmt_ratio(cf)}")
        lines += ["", "Speed-up " + ", ".join(parts) + "."]
    return "\n".join(lines)


@dataclass
class Target:
    text: str
    passed: bool | None  # None: not measured (variant or scenario not run, or failed)
    detail: str

    def line(self) -> str:
        mark = {True: "PASS", False: "FALL SHORT", None: "n/a"}[self.passed]
        return f"- [{mark}] {self.text}: {self.detail}"


def _speed(text: str, slow: Run | None, fast: Run | None, factor: float) -> Target:
    ratio = _ratio(slow, fast)
    if ratio is None or slow is None or fast is None:
        return Target(text, None, "not measured")
    detail = f"{ratio:.1f}x ({slow.wall:.2f} s vs {fast.wall:.2f} s)"
    return Target(text, ratio >= factor, detail)


def check_targets(runs: list[Run]) -> list[Target]:
    def get(scenario: str, variant: str) -> Run | None:
        return next((r for r in runs if r.scenario == scenario and r.variant == variant), None)

    first, again = get("a", "preload"), get("b", "preload")
    targets = [
        _speed("first deploy ≥ 25x faster than stock", get("a", "stock"), first, 25),
        _speed("first deploy ≥ 2x faster than Collectfasta", get("a", "collectfasta"), first, 2),
        _speed("unchanged re-run ≥ 50x faster than stock", get("b", "stock"), again, 50),
        _speed("unchanged re-run no slower than Collectfasta", get("b", "collectfasta"), again, 1),
    ]
    if again is not None and again.ok:
        o = again.ops
        extra = again.total - o["List"] - o["GET"]
        passed = o["GET"] <= 1 and extra == 0
        detail = f"{o['List']} List + {o['GET']} GET, {extra} other requests"
        targets.append(Target("unchanged re-run = listing pages + ≤ 1 GET", passed, detail))
    else:
        targets.append(Target("unchanged re-run = listing pages + ≤ 1 GET", None, "not measured"))
    if first is not None and first.ok:
        o = first.ops
        writes = first.object_writes
        objects = first.check.expected
        passed = writes == objects == o["PUT"] and o["HEAD"] == 0 and o["DELETE"] == 0
        detail = (
            f"{o['PUT']} PUT requests ({writes} object writes) for {objects} objects, "
            f"{o['HEAD']} HEAD, {o['DELETE']} DELETE"
        )
        targets.append(Target("first deploy = one PUT per object, no HEAD/DELETE", passed, detail))
    else:
        targets.append(
            Target("first deploy = one PUT per object, no HEAD/DELETE", None, "not measured")
        )
    return targets
