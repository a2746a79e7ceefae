#!/usr/bin/env python
"""The floor under an unchanged re-run: what collectstatic pays before preloadstorage
does anything, measured the way ``bench.py`` measures the re-run itself.

    python benchmarks/floor.py --tree large                     # S3 on moto
    python benchmarks/floor.py --tree large --server seaweedfs --repeat 7
    python benchmarks/floor.py --tree large --backend azure

Deploys the tree once with preloadstorage, then runs these, interleaved, each in a
fresh process (``--repeat`` rounds; medians reported):

- ``start-up``: ``manage.py shell -c pass``, bench.py's bare start-up;
- ``stock storage``: the same plus the *stock* django-storages manifest storage built
  with the same OPTIONS (importing the SDK, creating its client, reading the manifest:
  one GET), which any storage subclassing it pays before its first file;
- ``Django's loop``: ``manage.py collectstatic --noinput`` against a storage that needs
  no request and answers "unchanged" for every file (``floor_settings.py``): start-up
  plus Django's own collect loop over every source;
- ``preloadstorage re-run``: the unchanged ``manage.py collectstatic --noinput``.

The first three are paid by every django-storages backend, stock included; what the
re-run adds above their sum is preloadstorage's own work (the listing, reading and
hashing each source, the checks and the proof).
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from django.core.files.storage import Storage

#: ``manage.py collectstatic`` with ``NoCopyStorage`` (floor_settings.py): Django's loop.
LOOP_SETTINGS = "floor_settings"
STOCK = "from django.core.files.storage import storages; storages['staticfiles']"


class NoCopyStorage(Storage):
    """Every file exists and is newer than its source; nothing is post-processed."""

    def exists(self, name: str) -> bool:
        return True

    def get_modified_time(self, name: str) -> datetime:
        return datetime(2100, 1, 1, tzinfo=timezone.utc)

    def post_process(self, paths: Any, dry_run: bool = False, **options: Any) -> Any:
        yield from ()


@dataclass
class Deployed:
    """The tree, deployed once with preloadstorage: what a re-run measurement needs."""

    backend: Any  # backends.Backend, started
    project: Path
    cwd: Path
    timeout: float
    #: ``manage.py``'s environment by variant: "preload" and "stock".
    envs: dict[str, dict[str, str]]


@contextlib.contextmanager
def deployed(
    backend_name: str, server: str, tree: str, delay: float, bucket: str
) -> Iterator[Deployed]:
    """Start the server, deploy the tree once into ``bucket``; stop the server after."""
    import bench
    from backends import make_backend
    from variants import VARIANTS, run_collectstatic

    options = ["--backend", backend_name, "--server", server, "--tree", tree]
    bench_args = bench.parse_args([*options, "--delay", str(delay)])
    backend = make_backend(backend_name, server, delay)
    backend.start()
    try:
        with tempfile.TemporaryDirectory() as work:
            runner = bench.Bench(bench_args, backend, Path(work))
            backend.create_bucket(bucket)
            variants = VARIANTS[backend_name]
            envs = {name: runner.env(variants[name], bucket) for name in ("preload", "stock")}
            cwd, timeout = Path(work), bench_args.timeout
            first = run_collectstatic(sys.executable, runner.project, envs["preload"], cwd, timeout)
            if first.returncode != 0:
                raise SystemExit(f"the first deploy failed:\n{first.output[-3000:]}")
            yield Deployed(backend, runner.project, cwd, timeout, envs)
    finally:
        backend.stop()


def main(argv: list[str] | None = None) -> None:
    from backends import listing_seconds
    from variants import run_collectstatic, run_manage

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=("s3", "gcs", "azure"), default="s3")
    parser.add_argument("--server", choices=("moto", "seaweedfs"), default="moto")
    parser.add_argument("--tree", choices=("example", "large"), default="large")
    parser.add_argument("--delay", type=float, default=0.05)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    with deployed(args.backend, args.server, args.tree, args.delay, "floor") as tree:
        env, stock_env = tree.envs["preload"], tree.envs["stock"]
        loop_env = {**env, "DJANGO_SETTINGS_MODULE": LOOP_SETTINGS}

        def shell(code: str, env: dict[str, str]) -> float:
            result = run_manage(
                sys.executable, tree.project, ("shell", "-c", code), env, tree.cwd, tree.timeout
            )
            if result.returncode != 0:
                raise SystemExit(f"manage.py shell -c failed:\n{result.output[-3000:]}")
            return result.wall

        def collect(env: dict[str, str] = env) -> float:
            result = run_collectstatic(sys.executable, tree.project, env, tree.cwd, tree.timeout)
            if result.returncode != 0:
                raise SystemExit(f"collectstatic failed:\n{result.output[-3000:]}")
            return result.wall

        listing: list[float] = []  # seconds the server took to answer each re-run's listing

        def rerun() -> float:
            tree.backend.proxy.reset()
            wall = collect()
            listing.append(listing_seconds(tree.backend.proxy))
            return wall

        measures = {
            "start-up": lambda: shell("pass", env),
            "stock storage": lambda: shell(STOCK, stock_env),
            "Django's loop": lambda: collect(loop_env),
            "preloadstorage re-run": rerun,
        }
        walls: dict[str, list[float]] = {name: [] for name in measures}
        for _ in range(args.repeat):
            for name, measure in measures.items():
                walls[name].append(measure())
    report(walls, statistics.median(listing), args)


def report(walls: dict[str, list[float]], listing: float, args: argparse.Namespace) -> None:
    median = {name: statistics.median(values) for name, values in walls.items()}
    start = median["start-up"]
    where = args.backend if args.backend != "s3" else f"s3 on {args.server}"
    print(
        f"# unchanged re-run floor: {where}, {args.delay * 1000:.0f} ms per request, "
        f"tree {args.tree}, {args.repeat} rounds (medians, wall seconds)"
    )
    for name, values in walls.items():
        runs = ", ".join(f"{v:.2f}" for v in values)
        print(f"  {name:22s} {median[name]:6.2f}  ({median[name] - start:+.2f})   [{runs}]")
    floor = start + (median["stock storage"] - start) + (median["Django's loop"] - start)
    print(
        f"  floor: start-up + stock storage + Django's loop = {floor:.2f} s "
        f"({floor - start:+.2f}); the re-run is {median['preloadstorage re-run'] - floor:+.2f}"
        f" s from it; the server took {listing:.2f} s to answer the re-run's listing"
    )


if __name__ == "__main__":
    main()
