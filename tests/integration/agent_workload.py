"""A tiny HTTP server run as a pod's process by the node agent in lifecycle tests.

Stands in for the runtime where a test needs control over the process itself: it reports
which pod answered, reads files (to check mounted volumes), exits on request (crash tests)
and can ignore SIGTERM (grace-period tests). Standard library only, started by path.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse


class Handler(BaseHTTPRequestHandler):
    def _answer(self, code: int, body: dict[str, object]) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        url = urlparse(self.path)
        query = parse_qs(url.query)
        if url.path in ("/ready", "/health"):
            self._answer(200, {"ok": True})
        elif url.path == "/whoami":
            self._answer(200, {"pod": os.environ.get("POD_NAME", ""), "env": dict(os.environ)})
        elif url.path == "/read":
            # ?env=NAME reads the file named by that variable (mount paths are rewritten there)
            path = os.environ[query["env"][0]] if "env" in query else query["path"][0]
            try:
                with open(path) as handle:
                    self._answer(200, {"content": handle.read()})
            except OSError as error:
                self._answer(404, {"error": str(error)})
        elif url.path == "/exit":
            code = int(query.get("code", ["3"])[0])
            self._answer(200, {"exiting": code})
            threading.Timer(0.05, os._exit, args=(code,)).start()
        else:
            self._answer(404, {"error": url.path})

    def log_message(self, format: str, *args: object) -> None:
        sys.stderr.write(format % args + "\n")


def main() -> None:
    if os.environ.get("IGNORE_SIGTERM") == "1":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    host = os.environ.get("HOST", "127.0.0.1")
    port = int(os.environ.get("PORT", "8080"))
    server = ThreadingHTTPServer((host, port), Handler)
    print(f"serving on {host}:{port} args={sys.argv[1:]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
