"""Two MultiWorkerMirroredStrategy worker processes on this machine: the scaffolding of the
tests that train with two workers (each runs the same script with its own `TF_CONFIG`)."""

import json
import os
import socket
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_ports(n):
    """`n` TCP ports that were free a moment ago on 127.0.0.1."""
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def start_two_workers(script, seconds=200):
    """Starts `script` as workers 0 and 1 of one cluster, each killed after `seconds`; returns
    the two processes (stdout and stderr together, as text)."""
    cluster = {"worker": [f"127.0.0.1:{p}" for p in free_ports(2)]}
    procs = []
    for index in range(2):
        env = dict(os.environ, TF_CONFIG=json.dumps(
            {"cluster": cluster, "task": {"type": "worker", "index": index}}))
        procs.append(subprocess.Popen(
            ["timeout", "-k", "5", str(seconds), sys.executable, str(script)], env=env, cwd=ROOT,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    return procs


def worker_logs(procs, seconds=220):
    """Waits for the workers; their output, in worker order."""
    return [p.communicate(timeout=seconds)[0] for p in procs]
