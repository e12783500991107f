"""Tiny HTTP load generator run inside a lab network namespace (see Topology.traffic).

Sends N GET requests, one new TCP connection each, cycling over the given source
addresses, and prints one JSON object: {"statuses": {...}, "servers": {...},
"errors": {...}, "sent": N, "seconds": T}. "servers" counts response bodies (the seed's
real servers answer their own name, e.g. "rs1").

With --hold, it instead opens N connections (cycling over the sources), prints
{"open": K, "errors": {...}} once they are established, and keeps them open until its
standard input is closed; this makes IPVS count them as active connections.
"""

from __future__ import annotations

import argparse
import http.client
import json
import socket
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor


def one_request(
    host: str, port: int, path: str, source: str | None, timeout: float
) -> tuple[int | None, str, str | None]:
    conn = http.client.HTTPConnection(
        host, port, timeout=timeout, source_address=(source, 0) if source else None
    )
    try:
        conn.request("GET", path, headers={"Connection": "close"})
        resp = conn.getresponse()
        body = resp.read().decode(errors="replace").strip()
        return resp.status, body, None
    except (OSError, http.client.HTTPException) as e:
        return None, "", type(e).__name__
    finally:
        conn.close()


def hold(host: str, port: int, n: int, sources: list[str | None], timeout: float) -> int:
    socks: list[socket.socket] = []
    errors: Counter[str] = Counter()
    for i in range(n):
        src = sources[i % len(sources)]
        try:
            s = socket.create_connection(
                (host, port), timeout=timeout, source_address=(src, 0) if src else None
            )
            socks.append(s)
        except OSError as e:
            errors[type(e).__name__] += 1
    print(json.dumps({"open": len(socks), "errors": dict(errors)}), flush=True)
    sys.stdin.read()
    for s in socks:
        s.close()
    return 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("host")
    p.add_argument("--port", type=int, default=8765)
    p.add_argument("--path", default="/index.html")
    p.add_argument("-n", type=int, default=1)
    p.add_argument("--source", action="append", default=[])
    p.add_argument("--timeout", type=float, default=5.0)
    p.add_argument("--concurrency", type=int, default=1)
    p.add_argument("--hold", action="store_true")
    a = p.parse_args()
    sources: list[str | None] = list(a.source) or [None]
    if a.hold:
        return hold(a.host, a.port, a.n, sources, a.timeout)

    t0 = time.monotonic()
    jobs = [sources[i % len(sources)] for i in range(a.n)]
    with ThreadPoolExecutor(max_workers=max(1, a.concurrency)) as pool:
        results = list(
            pool.map(lambda src: one_request(a.host, a.port, a.path, src, a.timeout), jobs)
        )
    statuses: Counter[str] = Counter()
    servers: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    for status, body, err in results:
        if err is not None:
            errors[err] += 1
            continue
        statuses[str(status)] += 1
        servers[body] += 1
    print(json.dumps({
        "sent": a.n,
        "statuses": dict(statuses),
        "servers": dict(servers),
        "errors": dict(errors),
        "seconds": round(time.monotonic() - t0, 3),
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
