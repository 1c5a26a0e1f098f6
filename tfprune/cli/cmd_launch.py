"""``tfprune launch``: run one command as N TensorFlow workers on this
machine, for trying a multi-worker run before taking it to a cluster."""
from __future__ import annotations

from ._args import positive_int


def register(sub):
    p = sub.add_parser(
        "launch", help="run a command as N local multi-worker TensorFlow "
        "workers (TF_CONFIG on loopback ports, the CPU split between them)",
        description="Start COMMAND N times, each with TF_CONFIG naming a "
        "cluster of N workers on free loopback ports and its own task index, "
        "and the CPU threads split between them; every worker's output is "
        "prefixed with [worker i]. The first worker that fails stops the "
        "others. Inside COMMAND, tf.distribute.MultiWorkerMirroredStrategy() "
        "picks the cluster up. On a real cluster, set TF_CONFIG on each "
        "machine instead (see the README).",
        usage="tfprune launch [--workers N] -- COMMAND [ARG ...]")
    p.add_argument("--workers", type=positive_int, default=2,
                   help="number of workers (default: %(default)s)")
    p.add_argument("command", nargs="+", metavar="COMMAND",
                   help="the command every worker runs")
    p.set_defaults(func=run)


def tf_configs(n: int, host: str = "127.0.0.1") -> list[dict]:
    """One TF_CONFIG per worker of an ``n``-worker cluster on free ports."""
    import socket
    socks = []
    for _ in range(n):
        s = socket.socket()
        s.bind((host, 0))
        socks.append(s)
    addrs = [f"{host}:{s.getsockname()[1]}" for s in socks]
    for s in socks:
        s.close()
    return [{"cluster": {"worker": addrs},
             "task": {"type": "worker", "index": i}} for i in range(n)]


def _pump(stream, prefix, sink):
    for line in iter(stream.readline, ""):
        sink.write(f"{prefix}{line}")
        sink.flush()


def run(args) -> int:
    import json
    import os
    import subprocess
    import sys
    import threading
    import time

    n = args.workers
    threads = str(max(1, (os.cpu_count() or 1) // n))
    procs, pumps = [], []
    for i, cfg in enumerate(tf_configs(n)):
        env = dict(os.environ, TF_CONFIG=json.dumps(cfg),
                   TF_NUM_INTRAOP_THREADS=threads,
                   TF_NUM_INTEROP_THREADS="1", PYTHONUNBUFFERED="1")
        try:
            proc = subprocess.Popen(args.command, env=env, text=True,
                                    stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT)
        except OSError as e:
            for p in procs:
                p.kill()
            raise OSError(e.errno, f"cannot start {args.command[0]!r}: "
                          f"{e.strerror}") from None
        procs.append(proc)
        t = threading.Thread(target=_pump, args=(proc.stdout,
                                                 f"[worker {i}] ",
                                                 sys.stdout), daemon=True)
        t.start()
        pumps.append(t)
    code = 0
    try:
        while any(p.poll() is None for p in procs):
            failed = [p for p in procs if p.poll() not in (None, 0)]
            if failed:
                code = failed[0].returncode
                break
            time.sleep(0.2)
    except KeyboardInterrupt:
        code = 130
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
        for p in procs:
            p.wait()
        for t in pumps:
            t.join(timeout=5)
    if code == 0:
        code = next((p.returncode for p in procs if p.returncode), 0)
    if code:
        print(f"tfprune: error: a worker exited with status {code}",
              file=sys.stderr)
    return 2 if code < 0 else code
