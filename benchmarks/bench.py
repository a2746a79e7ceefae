#!/usr/bin/env python
"""Benchmark the stock ``manage.py collectstatic`` of example_project on a local object
store behind a delaying, counting proxy: stock storage vs Collectfasta vs preloadstorage.

    python benchmarks/bench.py                      # S3 on moto, 50 ms per request
    python benchmarks/bench.py --server seaweedfs --variants stock,preload --scenarios a,b
    python benchmarks/bench.py --backend gcs --json benchmarks/results/gcs.json

See benchmarks/README.md for what each scenario does and what is checked.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from backends import OBJECT_WRITES, Backend, categorize, make_backend
from report import Check, Run, check_targets, scenario_table
from variants import (
    BENCH_DIR,
    COLLECTFASTA_STRATEGIES,
    REPO,
    VARIANTS,
    Variant,
    backend_problem,
    collectfasta_python,
    run_collectstatic,
)

LEAF = "assets/robots.txt"  # referenced by nothing
VARIABLES = "pages/static/pages/css/variables.css"  # @import-ed by every stylesheet


def _touch_all(project: Path) -> None:
    for folder in (project / "assets", project / "pages" / "static"):
        for path in folder.rglob("*"):
            if path.is_file():
                os.utime(path)


def _append(relpath: str, text: str) -> Callable[[Path], None]:
    def edit(project: Path) -> None:
        with open(project / relpath, "a", encoding="utf-8") as fh:
            fh.write(text)

    return edit


SCENARIOS: dict[str, tuple[str, Callable[[Path], None] | None]] = {
    "a": ("(a) first deploy to an empty prefix", None),
    "b": ("(b) unchanged re-run", None),
    "c": ("(c) every source file re-touched (fresh CI checkout)", _touch_all),
    "d": (f"(d) one leaf file edited ({LEAF})", _append(LEAF, "# edited by bench.py\n")),
    "e": (
        "(e) variables.css edited (imported by every stylesheet)",
        _append(VARIABLES, "\n:root { --bench-edit: 1; }\n"),
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
        "backend has; Collectfasta is S3-only)",
    )
    parser.add_argument("--scenarios", default="abcde", help="e.g. abcde or a,b")
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
    parser.add_argument("--timeout", type=float, default=900, help="per run, seconds")
    parser.add_argument("--json", type=Path, help="also write every run to this JSON file")
    args = parser.parse_args(argv)
    args.scenarios = sorted({s for s in args.scenarios.replace(",", "") if s.strip()})
    if unknown := set(args.scenarios) - set(SCENARIOS):
        parser.error(f"unknown scenarios: {sorted(unknown)}")
    args.variants = [v.strip() for v in args.variants.split(",") if v.strip()]
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
        self.buckets: dict[str, str] = {}
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
        )
        if bucket:
            env.update(self.backend.env(bucket))
        workers = self.args.max_workers
        if workers:
            env["EXAMPLE_MAX_WORKERS"] = str(workers)
        env["BENCH_COLLECTFASTA_THREADS"] = str(workers or 16)
        env["BENCH_COLLECTFASTA_STRATEGY"] = COLLECTFASTA_STRATEGIES[
            self.args.collectfasta_strategy
        ]
        return env

    def expected(self) -> dict[str, bytes]:
        """What a local ManifestStaticFilesStorage collect of the current tree writes."""
        root = self.work / "static-root"
        shutil.rmtree(root, ignore_errors=True)
        result = run_collectstatic(sys.executable, self.project, self.env(None), self.work, 300)
        if result.returncode != 0:
            raise SystemExit(f"local ManifestStaticFilesStorage collect failed:\n{result.output}")
        return {
            p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()
        }

    def verify(self, bucket: str, expected: dict[str, bytes]) -> Check:
        prefix = self.backend.location + "/"
        present = set(self.backend.keys(bucket))
        wanted = {prefix + rel: data for rel, data in expected.items()}
        stored = self.backend.read_many(bucket, [k for k in wanted if k in present])
        return Check(
            expected=len(wanted),
            missing=sorted(k for k in wanted if k not in present),
            different=sorted(k for k, data in stored.items() if data != wanted[k]),
            extra=len(present - set(wanted)),
        )

    def run(self, scenario: str, variant: Variant, expected: dict[str, bytes], note: str) -> Run:
        bucket = self.buckets[variant.key]
        cwd = self.work / "cwd"  # fresh per run: Collectfasta stages into ./.collectfasta/
        shutil.rmtree(cwd, ignore_errors=True)
        cwd.mkdir()
        python = collectfasta_python() if variant.collectfasta else sys.executable
        proxy = self.backend.proxy
        assert proxy is not None
        proxy.reset()
        load = os.getloadavg()[0]
        result = run_collectstatic(
            python, self.project, self.env(variant, bucket), cwd, self.args.timeout
        )
        counts = dict(proxy.counts)
        errors = sum(1 for record in proxy.records if record[3] >= 400 or record[3] == 0)
        shutil.rmtree(cwd, ignore_errors=True)
        check = self.verify(bucket, expected)
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
            categorize(proxy.counts),
            check,
            sum(counts.get(op, 0) for op in OBJECT_WRITES),
            errors,
            tail,
        )
        print(
            f"  {variant.key:<13} {run.wall:7.2f} s (CPU {run.cpu:.2f} s, load {load:.1f})  "
            f"{run.total:5d} requests {json.dumps(run.ops)}  RSS {run.max_rss_mib:.0f} MiB  "
            f"exit {run.returncode}  bucket {check.describe()}{note}",
            flush=True,
        )
        if result.returncode != 0:
            print("    " + tail.replace("\n", "\n    "), flush=True)
        return run

    def new_buckets(self, variants: list[Variant]) -> None:
        for variant in variants:
            name = f"bench-{variant.key}-{uuid.uuid4().hex[:8]}"
            self.backend.create_bucket(name)
            self.buckets[variant.key] = name

    def main(self, variants: list[Variant]) -> None:
        todo = list(self.args.scenarios)
        if todo and todo[0] != "a":
            todo.insert(0, "setup")  # later scenarios start from a deployed bucket
        repeat = max(1, self.args.repeat)
        for scenario in todo:
            title, change = SCENARIOS["a" if scenario == "setup" else scenario]
            times = 1 if scenario == "setup" else repeat
            runs: dict[str, list[Run]] = {v.key: [] for v in variants}
            for attempt in range(1, times + 1):
                note = f" (run {attempt}/{times})" if times > 1 else ""
                if scenario in ("a", "setup"):
                    self.new_buckets(variants)
                if change is not None:
                    time.sleep(1.1)  # a new mtime second, as a later checkout would have
                    change(self.project)  # re-applied per repeat: each run sees the change
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


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    available = VARIANTS[args.backend]
    args.variants = args.variants or list(available)
    if unknown := [v for v in args.variants if v not in available]:
        print(
            f"--variants: {unknown} not available for {args.backend} "
            f"(choose from {', '.join(available)}; Collectfasta is S3-only)"
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
        f"load average {os.getloadavg()[0]:.1f}\n",
        flush=True,
    )
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="preloadstorage-bench-") as tmp:
        bench = Bench(args, backend, Path(tmp))
        backend.start()
        try:
            bench.main(variants)
        finally:
            backend.stop()
    print(f"\nTotal benchmark time {time.perf_counter() - started:.0f} s\n")
    for key in args.scenarios:
        runs = [r for r in bench.runs if r.scenario == key]
        print(scenario_table(SCENARIOS[key][0], runs) + "\n")
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
            "runs": [r.as_dict() for r in bench.runs],
            "all_runs": [r.as_dict() for r in bench.all_runs],
            "targets": [t.__dict__ for t in targets],
        }
        args.json.write_text(json.dumps(data, indent=2, default=str))
    failed = [r for r in bench.all_runs if not r.ok]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
