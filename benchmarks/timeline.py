#!/usr/bin/env python
"""When an unchanged re-run spends its time: wall and CPU at each step of one process.

    python benchmarks/timeline.py --tree large --server seaweedfs --repeat 5

Deploys the tree once, then runs, interleaved, ``--repeat`` times each (medians):

- the unchanged ``manage.py collectstatic --noinput`` with preloadstorage, time-stamped
  at Django's and preloadstorage's steps: the command's ``handle()``, the storage created
  (the listing starts), Django's collect loop, the listing done, post-processing,
  ``atexit``, and the process gone (measured by this process);
- the stock django-storages manifest storage created the way ``floor.py`` creates it
  (``manage.py shell -c``), stamped at ``atexit`` and when gone: CPython's teardown after
  ``atexit`` is the same for both, and belongs to the floor.

Each stamp gives seconds since the process was spawned, wall and the process's CPU (all
threads). CPU equal to wall means the run is CPU-bound at that point: a faster listing
alone cannot shorten it. The steps are found by wrapping Django's ``collectstatic``
command and two preloadstorage internals (``listing.Listing``): a benchmark, not an API.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

STEPS = (
    "handle() starts",
    "storage created, listing starts",
    "collect loop starts",
    "listing done",
    "post_process starts",
    "post_process ends",
    "atexit",
)
#: The child's stamps on stderr: "TIMELINE <step>\t<wall>\t<cpu>".
TAG = "TIMELINE "


def child(project: str, mode: str) -> None:
    """Run in the measured process: stamp the steps, then run ``manage.py``."""
    import atexit

    spawned = float(os.environ["TIMELINE_SPAWNED"])

    def stamp(step: str) -> None:
        sys.stderr.write(f"{TAG}{step}\t{time.time() - spawned:.4f}\t{time.process_time():.4f}\n")

    atexit.register(stamp, "atexit")  # registered first: runs after every other handler
    sys.path.insert(0, project)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "demo_site.settings")
    from django.core.management import execute_from_command_line

    if mode == "stock":
        from floor import STOCK  # the stock storage, created as floor.py creates it

        execute_from_command_line(["manage.py", "shell", "-c", STOCK])
        return
    from django.contrib.staticfiles.management.commands import collectstatic

    from preloadstorage import listing

    def around(
        cls: Any, name: str, before: str | None, after: str | None, then: Any = None
    ) -> None:
        original = getattr(cls, name)

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if before:
                stamp(before)
            if then:
                then(*args)
            result = original(*args, **kwargs)
            if after:
                stamp(after)
            return result

        setattr(cls, name, wrapper)

    def stamp_post_process(command: Any) -> None:
        storage_class = type(command.storage._wrapped)  # created by now: the listing runs
        post_process = storage_class.post_process

        def stamped(self: Any, *args: Any, **kwargs: Any) -> Any:
            stamp("post_process starts")
            yield from post_process(self, *args, **kwargs)
            stamp("post_process ends")

        storage_class.post_process = stamped

    around(collectstatic.Command, "handle", "handle() starts", None)
    around(collectstatic.Command, "collect", "collect loop starts", None, stamp_post_process)
    around(listing.Listing, "start", "storage created, listing starts", None)
    around(listing.Listing, "_run", None, "listing done")
    execute_from_command_line(["manage.py", "collectstatic", "--noinput"])


def run(project: Path, mode: str, env: dict[str, str], cwd: Path) -> dict[str, tuple[float, float]]:
    """One fresh process: ``{step: (wall, cpu)}`` in seconds since it was spawned."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    spawned = time.time()
    command = [sys.executable, __file__, "--child", str(project), mode]
    result = subprocess.run(
        command, env={**env, "TIMELINE_SPAWNED": repr(spawned)}, cwd=cwd, capture_output=True,
        text=True, timeout=600,
    )  # fmt: skip
    gone = time.time() - spawned
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    total_cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    if result.returncode != 0:
        raise SystemExit(f"{mode} run failed:\n{result.stderr[-3000:]}")
    stamps: dict[str, tuple[float, float]] = {}
    for line in result.stderr.splitlines():
        if line.startswith(TAG):
            step, wall, cpu = line[len(TAG) :].split("\t")
            stamps.setdefault(step, (float(wall), float(cpu)))  # first: post_process runs once
    stamps["process gone"] = (gone, total_cpu)
    return stamps


def main(argv: list[str] | None = None) -> None:
    from floor import deployed

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server", choices=("moto", "seaweedfs"), default="moto")
    parser.add_argument("--tree", choices=("example", "large"), default="large")
    parser.add_argument("--delay", type=float, default=0.05)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    runs: dict[str, list[dict[str, tuple[float, float]]]] = {"preload": [], "stock": []}
    with deployed("s3", args.server, args.tree, args.delay, "timeline") as tree:
        for _ in range(args.repeat):
            for mode, results in runs.items():
                results.append(run(tree.project, mode, tree.envs[mode], tree.cwd))
    report(runs, args)


def report(runs: dict[str, list[dict[str, tuple[float, float]]]], args: Any) -> None:
    print(
        f"# unchanged re-run timeline: s3 on {args.server}, {args.delay * 1000:.0f} ms per "
        f"request, tree {args.tree}, {args.repeat} runs each (medians; seconds since spawn)"
    )
    print(f"  {'step':34s} {'preloadstorage':>18s} {'stock storage':>18s}")
    for step in (*STEPS, "process gone"):
        cells = []
        for results in runs.values():
            values = [stamps[step] for stamps in results if step in stamps]
            if not values:
                cells.append(f"{'-':>18s}")
                continue
            wall = statistics.median(v[0] for v in values)
            cpu = statistics.median(v[1] for v in values)
            cells.append(f"{wall:7.2f} wall {cpu:5.2f} cpu")
        print(f"  {step:34s} {cells[0]:>18s} {cells[1]:>18s}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        child(sys.argv[2], sys.argv[3])
    else:
        main()
