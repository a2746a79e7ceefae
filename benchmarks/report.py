"""Results of the runs: one record per run, Markdown tables, speed-ups, target checks."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

COLUMNS = ("List", "HEAD", "GET", "PUT", "META", "COPY", "DELETE", "other")


@dataclass
class Check:
    """The bucket compared with a local ManifestStaticFilesStorage collect."""

    expected: int = 0  # objects the local collect wrote
    missing: list[str] = field(default_factory=list)
    different: list[str] = field(default_factory=list)
    extra: int = 0  # other objects under the prefix (e.g. older hashed copies)
    #: The Cache-Control every object of the collection must carry (None: not checked).
    cache_control: str | None = None
    #: Objects of the collection with another Cache-Control than configured, and with
    #: another Content-Type than the key had at its first check.
    wrong_cache_control: int = 0
    wrong_content_type: int = 0
    wrong_examples: list[str] = field(default_factory=list)  # "key: header value", a few
    #: preloadstorage's run-state object (``preloadstorage-state.json``) is in the bucket:
    #: one more PUT when written and one more GET when read, never part of the collection.
    state_object: bool = False
    #: keep_only_hashed_files: originals (manifest keys) left out of ``expected`` by
    #: design, and how many of them are in the bucket all the same.
    originals_skipped: int = 0
    originals_present: int = 0
    #: keep_releases: extra objects that neither the collection nor a kept release names
    #: (should have been pruned); ``None``: not checked (no keep_releases).
    stale: int | None = None
    stale_examples: list[str] = field(default_factory=list)
    #: A per-kind Cache-Control (hashed_cache_control / unhashed_cache_control) was
    #: checked instead of one value for every object.
    cache_policy: bool = False

    @property
    def bytes_ok(self) -> bool:
        return self.expected > 0 and not self.missing and not self.different

    @property
    def layout_ok(self) -> bool:
        """No original where only hashed copies belong, nothing left that should be pruned."""
        return self.originals_present == 0 and not self.stale

    @property
    def metadata_ok(self) -> bool:
        return self.wrong_metadata == 0

    @property
    def wrong_metadata(self) -> int:
        return self.wrong_cache_control + self.wrong_content_type

    @property
    def ok(self) -> bool:
        return self.bytes_ok and self.metadata_ok and self.layout_ok

    def describe(self) -> str:
        if self.bytes_ok:
            notes = [f"{self.expected} objects"]
            if self.originals_skipped:
                notes.append(
                    f"{self.originals_skipped} originals not uploaded by design"
                    + (f", {self.originals_present} PRESENT" if self.originals_present else "")
                )
            if self.extra:
                notes.append(f"{self.extra} extra")
            if self.stale is not None:
                notes.append(
                    f"{self.stale} stale"
                    + (f": {', '.join(self.stale_examples)}" if self.stale else "")
                )
            text = ("OK" if self.layout_ok else "FAIL") + f" ({', '.join(notes)})"
        else:
            shown = (self.missing + self.different)[:3]
            text = (
                f"FAIL ({len(self.missing)} missing, {len(self.different)} different of "
                f"{self.expected}: {', '.join(shown)})"
            )
        if self.cache_control is None:
            return text
        if self.metadata_ok:
            return text + (
                "; headers OK (per-kind policy)" if self.cache_policy else "; headers OK"
            )
        present = self.expected - len(self.missing)
        return (
            text + f"; headers FAIL in {present} objects: {self.wrong_cache_control} not "
            f"Cache-Control {self.cache_control!r}, {self.wrong_content_type} with a changed "
            f"Content-Type (e.g. {self.wrong_examples[0]})"
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
    #: Bare Django start-up (``manage.py shell -c pass``), same env and interpreter,
    #: measured just before this run: wall and CPU seconds, requests it sent (0).
    startup: float | None = None
    startup_cpu: float | None = None
    startup_requests: int = 0
    #: The first targets of requests other than writes and metadata updates (JSON only).
    other_requests: list[str] = field(default_factory=list)
    #: preload+cdn: CloudFront requests (the run's report_path ``requests``, e.g.
    #: CreateInvalidation; sent to moto directly, not in ``counts``), and the paths of the
    #: invalidations the run created (moto's list_invalidations). ``None``: no CDN.
    cdn_requests: dict[str, int] | None = None
    cdn_paths: list[list[str]] | None = None
    #: Seconds the server itself spent answering the run's listing requests, summed
    #: (the proxy's added delay excluded): the emulator's share of the wall time.
    list_server: float | None = None

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and self.check.ok

    @property
    def objects(self) -> int:
        """Objects in the collection (what a local ManifestStaticFilesStorage writes)."""
        return self.check.expected

    @property
    def cpu_per_object(self) -> float | None:
        """CPU seconds of the collectstatic process per object of the collection."""
        return self.cpu / self.objects if self.objects else None

    @property
    def over_startup(self) -> float | None:
        """Wall seconds beyond bare Django start-up."""
        return None if self.startup is None else self.wall - self.startup

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.update(
            total=self.total,
            ok=self.ok,
            objects=self.objects,
            cpu_per_object=self.cpu_per_object,
            over_startup=self.over_startup,
        )
        data["check"].update(
            ok=self.check.ok, bytes_ok=self.check.bytes_ok, metadata_ok=self.check.metadata_ok
        )
        return data


def _did_run(run: Run | None) -> bool:
    """Exited 0 with every byte right (metadata aside: stock's is part of what is shown)."""
    return run is not None and run.returncode == 0 and run.check.bytes_ok


def _ratio(slow: Run | None, fast: Run | None) -> float | None:
    if slow is None or fast is None or not (_did_run(slow) and _did_run(fast)) or fast.wall <= 0:
        return None
    return slow.wall / fast.wall


def _num(value: float | None, fmt: str = ".2f", scale: float = 1.0) -> str:
    return "n/a" if value is None else format(value * scale, fmt)


def _fmt_ratio(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f}x"


def cdn_cell(run: Run) -> str:
    """CloudFront requests and invalidated paths: "1 CreateInvalidation: 186 paths"."""
    if run.cdn_requests is None:
        return ""
    calls = ", ".join(f"{n} {op}" for op, n in sorted(run.cdn_requests.items())) or "0 requests"
    batches = run.cdn_paths or []
    paths = [p for batch in batches for p in batch]
    if not batches:
        return calls
    shown = ", ".join(f"`{p}`" for p in paths) if len(paths) <= 2 else f"{len(paths)} paths"
    return f"{calls}: {shown}"


def scenario_table(title: str, runs: list[Run]) -> str:
    head = [
        "variant",
        "wall s",
        "start-up s",
        "wall - start-up s",
        "CPU s",
        "CPU ms/object",
        "requests",
        *COLUMNS,
        "peak RSS MiB",
        "load",
        "bucket",
    ]
    cdn = any(run.cdn_requests is not None for run in runs)
    if cdn:
        head.insert(head.index("peak RSS MiB"), "CloudFront (apart)")
    lines = [f"### {title}", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for run in runs:
        cells = [
            run.label,
            f"{run.wall:.2f}",
            _num(run.startup),
            _num(run.over_startup),
            f"{run.cpu:.2f}",
            _num(run.cpu_per_object, ".2f", 1000),
            str(run.total),
            *(str(run.ops.get(col, 0)) for col in COLUMNS),
            *([cdn_cell(run)] if cdn else []),
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

    def measured(text: str, run: Run | None, judge: Callable[[Run], Target]) -> Target:
        return judge(run) if _did_run(run) else Target(text, None, "not measured")

    first, again, meta = get("a", "preload"), get("b", "preload"), get("f", "preload")
    targets = [
        _speed("first deploy ≥ 25x faster than stock", get("a", "stock"), first, 25),
        _speed("first deploy ≥ 2x faster than Collectfasta", get("a", "collectfasta"), first, 2),
        _speed("unchanged re-run ≥ 50x faster than stock", get("b", "stock"), again, 50),
        _speed("unchanged re-run no slower than Collectfasta", get("b", "collectfasta"), again, 1),
    ]

    text = "unchanged re-run = listing pages + manifest GET (+ run-state GET)"

    def unchanged(run: Run) -> Target:
        o = run.ops
        state = int(run.check.state_object)
        extra = run.total - o["List"] - o["GET"]
        detail = f"{o['List']} List + {o['GET']} GET, {extra} other requests"
        return Target(text, o["GET"] <= 1 + state and extra == 0, detail)

    targets.append(measured(text, again, unchanged))

    text = "first deploy = one PUT per object (+ the run state), no HEAD/DELETE"

    def first_deploy(run: Run) -> Target:
        o = run.ops
        writes, objects, state = run.object_writes, run.objects, int(run.check.state_object)
        passed = writes == objects + state == o["PUT"] and o["HEAD"] == 0 and o["DELETE"] == 0
        detail = (
            f"{o['PUT']} PUT requests ({writes} object writes) for {objects} objects"
            f"{' + the run state' if state else ''}, {o['HEAD']} HEAD, {o['DELETE']} DELETE"
        )
        return Target(text, passed, detail)

    targets.append(measured(text, first, first_deploy))

    text = "metadata changed = one metadata request per object, no re-upload, all updated"

    def metadata(run: Run) -> Target:
        o = run.ops
        state = int(run.check.state_object)
        others = run.total - o["List"] - o["GET"] - o["META"] - o["PUT"]
        passed = (
            run.check.metadata_ok
            and o["META"] == run.objects
            and o["PUT"] <= state
            and others == 0
            and o["GET"] <= 1 + state
        )
        updated = (
            "every object's headers right"
            if run.check.metadata_ok
            else f"{run.check.wrong_metadata} wrong headers"
        )
        detail = (
            f"{o['META']} metadata requests for {run.objects} objects, {o['PUT']} PUT"
            f"{' (the run state)' if state and o['PUT'] else ''}, {o['List']} List, "
            f"{o['GET']} GET, {others} other; {updated}"
        )
        return Target(text, passed, detail)

    targets.append(measured(text, meta, metadata))

    # Issue 11's goals (stated for the large tree, --tree large), for every preloadstorage
    # variant that ran (e.g. preload+crt), each on its own line.
    variants = dict.fromkeys(r.variant for r in runs if r.variant.startswith("preload"))
    for variant in variants or ["preload"]:
        suffix = "" if variant == "preload" else f" ({variant})"
        text = "first deploy ≤ 3 ms of collectstatic CPU per object" + suffix

        def cpu(run: Run, text: str = text) -> Target:
            per = run.cpu_per_object or 0.0
            detail = f"{per * 1000:.2f} ms ({run.cpu:.2f} s for {run.objects} objects)"
            return Target(text, per <= 0.003, detail)

        targets.append(measured(text, get("a", variant), cpu))

        text = "unchanged re-run ≤ bare start-up + 1.5 s" + suffix

        def over_startup(run: Run, text: str = text) -> Target:
            if run.over_startup is None or run.startup is None:
                return Target(text, None, "start-up not measured")
            detail = f"+{run.over_startup:.2f} s ({run.wall:.2f} s, start-up {run.startup:.2f} s)"
            if run.list_server:
                detail += f"; the server took {run.list_server:.2f} s to answer the listing"
            return Target(text, run.over_startup <= 1.5, detail)

        targets.append(measured(text, get("b", variant), over_startup))
    return targets
