"""One-thread numpy reference for bench/scenarios/kernels.ts.

Reads commands on stdin, one JSON object a line, and answers each with one JSON line. OpenBLAS must run on
one thread: the scenario starts this with OPENBLAS_NUM_THREADS=1 (and OMP_NUM_THREADS=1).
  {"op": "config"}                        -> {"blas": "...", "numpy": "..."}
  {"op": "setup", "n": N, "rows": R, "dim": D, "seed": S} -> {}
  {"op": "matmul"} / {"op": "topk", "k": K} / {"op": "read"} -> {"ms": elapsed}
"""
import json
import sys
import time

import numpy as np

state = {}


def config():
    info = np.show_config(mode="dicts")
    blas = info.get("Build Dependencies", {}).get("blas", {})
    return {"blas": f"{blas.get('name', '?')} {blas.get('version', '')}".strip(), "numpy": np.__version__}


def setup(cmd):
    rng = np.random.default_rng(cmd["seed"])
    n = cmd["n"]
    state["a"] = rng.random((n, n))
    state["b"] = rng.random((n, n))
    state["matrix"] = (rng.random((cmd["rows"], cmd["dim"]), dtype=np.float32) - 0.5)
    state["query"] = (rng.random(cmd["dim"], dtype=np.float32) - 0.5)
    return {}


def timed(fn):
    start = time.perf_counter()
    fn()
    return {"ms": (time.perf_counter() - start) * 1000}


def topk(k):
    m, q = state["matrix"], state["query"]
    # Row norms without a temporary the size of the matrix (faster than np.linalg.norm(m, axis=1)).
    scores = (m @ q) / (np.sqrt(np.einsum("ij,ij->i", m, m)) * np.linalg.norm(q))
    best = np.argpartition(-scores, k)[:k]
    return best[np.argsort(-scores[best], kind="stable")]


for line in sys.stdin:
    cmd = json.loads(line)
    op = cmd["op"]
    if op == "config":
        out = config()
    elif op == "setup":
        out = setup(cmd)
    elif op == "matmul":
        out = timed(lambda: state["a"] @ state["b"])
    elif op == "topk":
        out = timed(lambda: topk(cmd["k"]))
    elif op == "read":
        out = timed(lambda: state["matrix"].sum())
    else:
        out = {"error": f"unknown op {op}"}
    sys.stdout.write(json.dumps(out) + "\n")
    sys.stdout.flush()
