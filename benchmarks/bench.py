#!/usr/bin/env python
"""Benchmark the stock ``manage.py collectstatic`` of example_project on a local object
store behind a delaying, counting proxy: stock storage vs Collectfasta vs preloadstorage.

    python benchmarks/bench.py                      # S3 on moto, 50 ms per request
    python benchmarks/bench.py --server seaweedfs --variants stock,preload --scenarios a,b
    python benchmarks/bench.py --backend gcs --json benchmarks/results/gcs.json
    python benchmarks/bench.py --tree large --variants preload --scenarios a,b,f

See benchmarks/README.md for what each scenario does and what is checked.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import tree
from backends import (
    BULK_OPERATIONS,
    OBJECT_WRITES,
    Backend,
    categorize,
    listing_seconds,
    make_backend,
    operation_counts,
)
from report import Check, Run, cdn_cell, check_targets, scenario_table
from variants import (
    BENCH_DIR,
    COLLECTFASTA_STRATEGIES,
    OPTION_VARIANTS,
    REPO,
    STARTUP_COMMAND,
    VARIANTS,
    Variant,
    backend_problem,
    collectfasta_python,
    run_collectstatic,
    run_startup,
)

LEAF = "assets/robots.txt"  # referenced by nothing
VARIABLES = "pages/static/pages/css/variables.css"  # @import-ed by every stylesheet
#: preloadstorage's run-state object, beside the collection (preloadstorage/state.py).
STATE_NAME = "preloadstorage-state.json"
#: Django's manifest, at the root of the collection.
MANIFEST_NAME = "staticfiles.json"
#: Cache-Control of every run before scenario f (example_project's S3 default).
CACHE_CONTROL = "max-age=31536000, public"


def _touch_all(bench: Bench, attempt: int) -> None:
    project = bench.project
    folders = [project / "assets", project / "pages" / "static"]
    if bench.tree_copy is not None:
        folders.append(bench.tree_copy)  # a fresh CI job installs the packages anew
    for folder in folders:
        for path in folder.rglob("*"):
            if path.is_file():
                os.utime(path)


def _append(relpath: str, text: str) -> Callable[[Bench, int], None]:
    def edit(bench: Bench, attempt: int) -> None:
        with open(bench.project / relpath, "a", encoding="utf-8") as fh:
            fh.write(text)

    return edit


def _new_cache_control(bench: Bench, attempt: int) -> None:
    bench.cache_control = f"public, max-age={600 * attempt}"


#: key -> (title, change before each run or None, whether the change touches files).
SCENARIOS: dict[str, tuple[str, Callable[[Bench, int], None] | None, bool]] = {
    "a": ("(a) first deploy to an empty prefix", None, False),
    "b": ("(b) unchanged re-run", None, False),
    "c": ("(c) every source file re-touched (fresh CI checkout)", _touch_all, True),
    "d": (f"(d) one leaf file edited ({LEAF})", _append(LEAF, "# edited by bench.py\n"), True),
    "e": (
        "(e) variables.css edited (imported by every stylesheet)",
        _append(VARIABLES, "\n:root { --bench-edit: 1; }\n"),
        True,
    ),
    "f": (
        "(f) metadata changed: a new Cache-Control in the settings, no file changed",
        _new_cache_control,
        False,
    ),
}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=("s3", "gcs", "azure"), default="s3")
    parser.add_argument(
        "--server", choices=("moto", "seaweedfs"), default="moto", help="S3 server (default: moto)"
    )
    parser.add_argument(
        "--variants",
        default="",
        help="comma-separated subset of stock,collectfasta,preload (default: all the "
        "backend has; Collectfasta is S3-only), plus the opt-in issue-10 option variants "
        "preload+hashedonly, preload+releases, preload+policy, (S3 on moto) preload+cdn, "
        "and (S3) preload+crt: transport='crt', needs awscrt in the venv",
    )
    parser.add_argument("--scenarios", default="abcdef", help="e.g. abcdef or a,b")
    parser.add_argument(
        "--tree",
        choices=("example", "large"),
        default="example",
        help="example: example_project alone (default); large: plus Wagtail, DRF, "
        "debug-toolbar, Bootstrap 5 and Font Awesome 6 static files (benchmarks/tree.py, "
        "installed into benchmarks/.tree/ on first use)",
    )
    parser.add_argument(
        "--delay",
        type=float,
        default=0.05,
        help="seconds the proxy adds to every request (default 0.05)",
    )
    parser.add_argument(
        "--max-workers",
        type=int,
        default=None,
        help="preloadstorage max_workers and COLLECTFASTA_THREADS (default 16)",
    )
    parser.add_argument(
        "--collectfasta-strategy", choices=tuple(COLLECTFASTA_STRATEGIES), default="filesystem"
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="runs per variant and scenario; the median run is reported",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=None,
        help="per run, seconds (default 900; 14400 with --tree large, where one stock "
        "run makes ~27,000 sequential requests)",
    )
    parser.add_argument("--json", type=Path, help="also write every run to this JSON file")
    args = parser.parse_args(argv)
    args.scenarios = sorted({s for s in args.scenarios.replace(",", "") if s.strip()})
    if unknown := set(args.scenarios) - set(SCENARIOS):
        parser.error(f"unknown scenarios: {sorted(unknown)}")
    args.variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    if args.timeout is None:
        args.timeout = 14400 if args.tree == "large" else 900
    return args


class Bench:
    def __init__(self, args: argparse.Namespace, backend: Backend, work: Path) -> None:
        self.args = args
        self.backend = backend
        self.work = work
        self.project = work / "example_project"
        shutil.copytree(
            REPO / "example_project",
            self.project,
            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
        )
        # The large tree is copied too: scenario c touches it, the cache stays as installed.
        self.tree_copy: Path | None = None
        self.extra_static_dirs = ""
        if args.tree == "large":
            entries = tree.ensure()
            self.tree_copy = work / "tree"
            shutil.copytree(tree.TREE_DIR, self.tree_copy)
            old, new = str(tree.TREE_DIR), str(self.tree_copy)
            self.extra_static_dirs = tree.env_value([e.replace(old, new) for e in entries])
        self.cache_control = CACHE_CONTROL
        self.sources: int | None = None  # files the local collect found
        self.content_types: dict[str, dict[str, str | None]] = {}  # bucket -> key -> type
        self.buckets: dict[str, str] = {}
        self.distributions: dict[str, str] = {}  # variant key -> CloudFront distribution id
        #: bucket -> the key sets of the releases seen so far (keep_releases' check).
        self.releases: dict[str, list[frozenset[str]]] = {}
        self.runs: list[Run] = []  # reported: the median of each variant and scenario
        self.all_runs: list[Run] = []

    def env(self, variant: Variant | None, bucket: str = "") -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("AWS_", "EXAMPLE_", "STORAGE_EMULATOR", "DJANGO_"))
        }
        env.update(
            PYTHONPATH=str(BENCH_DIR),
            EXAMPLE_DB_PATH=str(self.work / "db.sqlite3"),
            EXAMPLE_STATIC_ROOT=str(self.work / "static-root"),
            EXAMPLE_STORAGE=variant.storage if variant else "local",
            DJANGO_SETTINGS_MODULE=variant.settings_module if variant else "demo_site.settings",
            EXAMPLE_CACHE_CONTROL=self.cache_control,
        )
        if self.extra_static_dirs:
            env["EXAMPLE_EXTRA_STATIC_DIRS"] = self.extra_static_dirs
        if bucket:
            env.update(self.backend.env(bucket))
        workers = self.args.max_workers
        if workers:
            env["EXAMPLE_MAX_WORKERS"] = str(workers)
        if variant is not None and (variant.options or variant.cdn):
            options = variant.option_dict
            if variant.cdn:
                options.update(
                    cloudfront_distribution_id=self.distributions[variant.key],
                    cloudfront_endpoint_url=self.backend.cloudfront_endpoint(),
                    report_path=str(self.report_path(variant)),
                )
            env["EXAMPLE_PRELOAD_OPTIONS"] = json.dumps(options)
        env["BENCH_COLLECTFASTA_THREADS"] = str(workers or 16)
        env["BENCH_COLLECTFASTA_STRATEGY"] = COLLECTFASTA_STRATEGIES[
            self.args.collectfasta_strategy
        ]
        return env

    def expected(self) -> dict[str, bytes]:
        """What a local ManifestStaticFilesStorage collect of the current tree writes."""
        root = self.work / "static-root"
        shutil.rmtree(root, ignore_errors=True)
        result = run_collectstatic(
            sys.executable, self.project, self.env(None), self.work, self.args.timeout
        )
        if result.returncode != 0:
            raise SystemExit(f"local ManifestStaticFilesStorage collect failed:\n{result.output}")
        found = re.search(r"(\d+) static files? copied", result.output)
        self.sources = int(found.group(1)) if found else None
        return {
            p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()
        }

    def report_path(self, variant: Variant) -> Path:
        return self.work / f"report-{variant.bucket_prefix}.json"

    def verify(
        self, bucket: str, expected: dict[str, bytes], variant: Variant | None = None
    ) -> Check:
        """Bytes and headers of every object of the collection, read directly.

        Cache-Control must be the configured one (with hashed_cache_control /
        unhashed_cache_control: the one for the key's kind, hashed = a name the manifest
        maps to, as the storage judges it); Content-Type must be what the key had the
        first time this bucket was checked (no run may lose or change it, e.g. an Azure
        Set Blob Properties that sends the Cache-Control alone clears it).

        keep_only_hashed_files: the originals (the manifest's keys) are not expected and
        must be absent. keep_releases=N: every extra object must belong to one of the N
        releases before this one (older ones' objects are pruned).
        """
        options = variant.option_dict if variant is not None else {}
        prefix = self.backend.location + "/"
        listed = self.backend.keys(bucket)  # key -> headers where the listing has them
        manifest = json.loads(expected.get(MANIFEST_NAME, b"{}")).get("paths", {})
        originals = {prefix + name for name, hashed in manifest.items() if name != hashed}
        hashed_keys = {prefix + hashed for name, hashed in manifest.items() if name != hashed}
        wanted = {prefix + rel: data for rel, data in expected.items()}
        skipped: set[str] = set()
        if options.get("keep_only_hashed_files"):
            skipped = originals & set(wanted)
            wanted = {k: v for k, v in wanted.items() if k not in skipped}
        policy = "hashed_cache_control" in options or "unhashed_cache_control" in options

        def wanted_cache_control(key: str) -> str | None:
            if not policy:
                return self.cache_control
            kind = "hashed" if key in hashed_keys else "unhashed"
            return options.get(f"{kind}_cache_control", self.cache_control)

        stored = self.backend.read_many(bucket, [k for k in wanted if k in listed])
        types = self.content_types.setdefault(bucket, {})
        wrong_cc: list[str] = []
        wrong_type: list[str] = []
        for key, item in sorted(stored.items()):
            if item is None:
                continue
            cache_control, content_type = item[1] or listed[key] or (None, None)
            if cache_control != wanted_cache_control(key):
                wrong_cc.append(f"{key}: Cache-Control {cache_control!r}")
            first = types.setdefault(key, content_type)
            if content_type != first:
                wrong_type.append(f"{key}: Content-Type {content_type!r}, was {first!r}")
        extra = set(listed) - set(wanted)
        stale: list[str] | None = None
        keep = options.get("keep_releases")
        if keep is not None:
            history = self.releases.setdefault(bucket, [])
            release = frozenset(wanted)
            if not history or history[-1] != release:
                history.append(release)  # a run that changed the collection
            kept = frozenset().union(*history[-1 - keep : -1]) if keep else frozenset()
            stale = sorted(extra - kept - {prefix + STATE_NAME})
        return Check(
            expected=len(wanted),
            missing=sorted(k for k in wanted if k not in listed or stored.get(k) is None),
            different=sorted(
                k for k, item in stored.items() if item is not None and item[0] != wanted[k]
            ),
            extra=len(extra),
            cache_control=self.cache_control,
            originals_skipped=len(skipped),
            originals_present=len(skipped & set(listed)),
            stale=None if stale is None else len(stale),
            stale_examples=(stale or [])[:3],
            cache_policy=policy,
            wrong_cache_control=len(wrong_cc),
            wrong_content_type=len(wrong_type),
            wrong_examples=wrong_type[:3] + wrong_cc[:3],
            state_object=prefix + STATE_NAME in listed,
        )

    def run(self, scenario: str, variant: Variant, expected: dict[str, bytes], note: str) -> Run:
        bucket = self.buckets[variant.key]
        distribution = self.distributions.get(variant.key)
        before = self.backend.invalidations(distribution) if distribution else {}
        if variant.cdn:
            self.report_path(variant).unlink(missing_ok=True)
        cwd = self.work / "cwd"  # fresh per run: Collectfasta stages into ./.collectfasta/
        shutil.rmtree(cwd, ignore_errors=True)
        cwd.mkdir()
        python = collectfasta_python() if variant.collectfasta else sys.executable
        proxy = self.backend.proxy
        assert proxy is not None
        env = self.env(variant, bucket)
        # Bare start-up first: same interpreter, env, working directory and measuring.
        proxy.reset()
        startup = run_startup(python, self.project, env, cwd, self.args.timeout)
        startup_requests = proxy.total()
        if startup.returncode != 0:
            tail = "\n".join(startup.output.strip().splitlines()[-12:])
            print(f"    start-up ({' '.join(STARTUP_COMMAND)}) failed:\n{tail}", flush=True)
        proxy.reset()
        load = os.getloadavg()[0]
        result = run_collectstatic(python, self.project, env, cwd, self.args.timeout)
        op_counts = operation_counts(proxy)
        counts = dict(op_counts)
        errors = sum(1 for record in proxy.records if record[3] >= 400 or record[3] == 0)
        list_server = listing_seconds(proxy)
        shutil.rmtree(cwd, ignore_errors=True)
        check = self.verify(bucket, expected, variant)
        cdn_requests: dict[str, int] | None = None
        cdn_paths: list[list[str]] | None = None
        if distribution:
            report = self.report_path(variant)
            requests = json.loads(report.read_text()).get("requests", {}) if report.exists() else {}
            # The report's requests are the run's, S3 ones included: keep CloudFront's.
            cdn_requests = {op: n for op, n in requests.items() if "Invalidation" in op}
            after = self.backend.invalidations(distribution)
            cdn_paths = [paths for ident, paths in after.items() if ident not in before]
        tail = "\n".join(result.output.strip().splitlines()[-12:])
        run = Run(
            scenario,
            variant.key,
            variant.label,
            result.returncode,
            result.wall,
            result.max_rss_mib,
            result.cpu,
            load,
            counts,
            categorize(op_counts),
            check,
            sum(counts.get(op, 0) for op in OBJECT_WRITES),
            errors,
            tail,
            startup=startup.wall if startup.returncode == 0 else None,
            startup_cpu=startup.cpu if startup.returncode == 0 else None,
            startup_requests=startup_requests,
            other_requests=_few_requests(proxy.records),
            cdn_requests=cdn_requests,
            cdn_paths=cdn_paths,
            list_server=list_server,
        )
        per_object = run.cpu_per_object
        over = run.over_startup
        print(
            f"  {variant.key:<18} {run.wall:7.2f} s (start-up {_fmt(run.startup)} s, "
            f"+{_fmt(over)} s; CPU {run.cpu:.2f} s = "
            f"{_fmt(per_object * 1000 if per_object is not None else None)} ms/object; "
            f"load {load:.1f}; listing answered by the server in {list_server:.2f} s)  "
            f"{run.total:5d} requests {json.dumps(run.ops)}  "
            f"RSS {run.max_rss_mib:.0f} MiB  exit {run.returncode}  "
            f"bucket {check.describe()}{note}",
            flush=True,
        )
        if cdn_requests is not None:
            print(f"    CloudFront (not through the proxy): {cdn_cell(run)}", flush=True)
        if startup_requests:
            print(f"    note: the bare start-up sent {startup_requests} requests", flush=True)
        if result.returncode != 0:
            print("    " + tail.replace("\n", "\n    "), flush=True)
        return run

    def new_buckets(self, variants: list[Variant]) -> None:
        for variant in variants:
            name = f"bench-{variant.bucket_prefix}-{uuid.uuid4().hex[:8]}"
            self.backend.create_bucket(name)
            self.buckets[variant.key] = name
            if variant.cdn:
                self.distributions[variant.key] = self.backend.create_distribution(name)

    def main(self, variants: list[Variant]) -> None:
        todo = list(self.args.scenarios)
        if todo and todo[0] != "a":
            todo.insert(0, "setup")  # later scenarios start from a deployed bucket
        repeat = max(1, self.args.repeat)
        for scenario in todo:
            title, change, touches_files = SCENARIOS["a" if scenario == "setup" else scenario]
            times = 1 if scenario == "setup" else repeat
            runs: dict[str, list[Run]] = {v.key: [] for v in variants}
            for attempt in range(1, times + 1):
                note = f" (run {attempt}/{times})" if times > 1 else ""
                if scenario in ("a", "setup"):
                    self.new_buckets(variants)
                if change is not None:
                    if touches_files:
                        time.sleep(1.1)  # a new mtime second, as a later checkout would have
                    change(self, attempt)  # re-applied per repeat: each run sees the change
                print(
                    f"{title}{' (set-up, not reported)' if scenario == 'setup' else note}",
                    flush=True,
                )
                expected = self.expected()
                for variant in variants:
                    runs[variant.key].append(self.run(scenario, variant, expected, note))
            if scenario != "setup":
                for variant_runs in runs.values():
                    # The median by wall time; its counts and check come with it.
                    self.runs.append(sorted(variant_runs, key=lambda r: r.wall)[times // 2])
                    self.all_runs.extend(variant_runs)


def _few_requests(records: list[tuple[str, str, str, int]]) -> list[str]:
    """The first 20 requests other than per-object writes and metadata updates, and
    those too when there are at most 10 of them (for the JSON: what was the one PUT?)."""
    bulk = sum(1 for record in records if record[0] in BULK_OPERATIONS)
    return [
        f"{op} {method} {target} -> {status}"
        for op, method, target, status in records
        if op not in BULK_OPERATIONS or bulk <= 10
    ][:20]


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def _expected_failure(run: Run) -> bool:
    """Stock and Collectfasta leaving old metadata behind in f: measured, not a bench bug."""
    return (
        run.scenario == "f"
        and not run.variant.startswith("preload")
        and run.returncode == 0
        and run.check.bytes_ok
        and run.check.wrong_content_type == 0
        and run.check.wrong_cache_control > 0
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # The option variants are opt-in: the default run is the backend's own variants.
    available = {**VARIANTS[args.backend], **OPTION_VARIANTS[args.backend]}
    args.variants = args.variants or list(VARIANTS[args.backend])
    if args.backend == "s3" and args.server != "moto":
        available.pop("preload+cdn", None)  # CloudFront is moto's
    if unknown := [v for v in args.variants if v not in available]:
        print(
            f"--variants: {unknown} not available for {args.backend} "
            f"(choose from {', '.join(available)}; Collectfasta is S3-only, "
            "preload+cdn S3 on moto only)"
        )
        return 2
    variants = [available[v] for v in args.variants]
    problems = [p for v in variants if (p := backend_problem(v, dict(os.environ)))]
    if problems:
        for problem in problems:
            print(f"CANNOT RUN: {problem}")
        print("Run again once that backend exists, or choose --variants stock.")
        return 2
    if any(v.collectfasta for v in variants):
        collectfasta_python()
    server = args.server if args.backend == "s3" else args.backend
    backend = make_backend(args.backend, server, args.delay)
    print(
        f"# collectstatic benchmark: {args.backend} on {server}, {args.delay * 1000:.0f} ms "
        f"per request, max_workers {args.max_workers or 'default (16)'}, "
        f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    tree_text = (
        "example_project (its pages + django.contrib.admin)"
        if args.tree == "example"
        else f"example_project + the large tree ({tree.describe()})"
    )
    print(f"# tree: {tree_text}\n", flush=True)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="preloadstorage-bench-") as tmp:
        bench = Bench(args, backend, Path(tmp))
        backend.start()
        try:
            bench.main(variants)
        finally:
            backend.stop()
    print(f"\nTotal benchmark time {time.perf_counter() - started:.0f} s\n")
    # The whole collection (keep_only_hashed_files' runs expect fewer objects).
    objects = next((r.objects + r.check.originals_skipped for r in bench.runs if r.objects), 0)
    print(
        f"Tree: {tree_text}: {bench.sources if bench.sources is not None else '?'} source "
        f"files, {objects} objects with manifest storage (last local collect). Start-up = "
        f"bare `manage.py {' '.join(STARTUP_COMMAND)}` in the same env, run just before "
        "each collectstatic.\n"
    )
    for key in args.scenarios:
        runs = [r for r in bench.runs if r.scenario == key]
        print(scenario_table(SCENARIOS[key][0], runs) + "\n")
    expected_failures = [r for r in bench.all_runs if _expected_failure(r)]
    if expected_failures:
        print(
            "Note: in (f), "
            + ", ".join(sorted({r.label for r in expected_failures}))
            + " left objects with the old Cache-Control (they re-upload only what they "
            "re-process); shown as measured, not counted as a benchmark failure.\n"
        )
    targets = check_targets(bench.runs)
    print("### Targets\n\n" + "\n".join(t.line() for t in targets))
    busiest = max((r.load for r in bench.all_runs), default=0.0)
    if busiest > 1.5:
        print(
            f"\nNote: the 1-minute load average reached {busiest:.1f} on {os.cpu_count()} CPUs "
            "during the runs: other processes competed for the CPUs, so short runs are "
            "noisy. Re-run on an idle machine, or with --repeat 3 (median)."
        )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        data = {
            "args": {k: str(v) for k, v in vars(args).items()},
            "tree": {
                "name": args.tree,
                "description": tree_text,
                "sources": bench.sources,
                "objects": objects,
                "startup_command": f"manage.py {' '.join(STARTUP_COMMAND)}",
            },
            "runs": [r.as_dict() for r in bench.runs],
            "all_runs": [r.as_dict() for r in bench.all_runs],
            "targets": [t.__dict__ for t in targets],
        }
        args.json.write_text(json.dumps(data, indent=2, default=str))
    failed = [r for r in bench.all_runs if not r.ok and not _expected_failure(r)]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
