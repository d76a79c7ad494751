#!/usr/bin/env python3
"""A real OPeNDAP (DAP2) server for the driver's tests: pydap's own server app (pydap 3.4.1,
NetCDF handler, one bug patched below) over wsgiref on a loopback port, with an access log and optional basic auth.

    python dap_server.py DATA_DIR LOG_FILE [USER:PASSWORD]

Files the handler cannot open get a DAP2 error body (status 500), as other servers answer.
Binds 127.0.0.1 on a free port and prints `PORT <n>` on stdout once it serves. Every request
(method, path and query, status, body bytes) is appended to LOG_FILE, one line each, so tests can check what
crossed the network. With USER:PASSWORD, requests without those basic credentials get 401.
"""

import base64
import sys
import threading

from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import numpy as np
import pydap.handlers.netcdf as nc_handler
from pydap.responses.error import ErrorResponse
from pydap.wsgi.app import DapServer


def _getitem(self, key):
    """pydap 3.4.1's LazyVariable.__getitem__ reshapes every subset to the variable's whole
    shape (a ValueError for any multi-dimensional hyperslab): reshape only when asked to."""
    with nc_handler.netcdf_file(self.filepath, "r") as source:
        source.set_auto_scale(False)
        data = np.asarray(source[self.path][key]).astype(self.dtype)
    if tuple(self._reshape) != tuple(self._shape):
        data = data.reshape(self._reshape)
    return data


nc_handler.LazyVariable.__getitem__ = _getitem


class Threading(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class Quiet(WSGIRequestHandler):
    def log_message(self, *args):
        pass


def main() -> None:
    data, log_path = sys.argv[1], sys.argv[2]
    creds = sys.argv[3] if len(sys.argv) > 3 else None
    app = DapServer(data)
    log = open(log_path, "a", buffering=1)
    # netCDF4 (HDF5) is not thread-safe: one request at a time reads the files, whole.
    lock = threading.Lock()

    def logged(environ, start_response):
        line = environ.get("PATH_INFO", "")
        if environ.get("QUERY_STRING"):
            line += "?" + environ["QUERY_STRING"]
        if creds is not None:
            want = "Basic " + base64.b64encode(creds.encode()).decode()
            if environ.get("HTTP_AUTHORIZATION") != want:
                log.write(f"GET {line} 401\n")
                start_response("401 Unauthorized", [("WWW-Authenticate", 'Basic realm="dap"'),
                                                    ("Content-Type", "text/plain")])
                return [b"credentials required\n"]

        status_seen = []

        def start(status, headers, exc_info=None):
            status_seen.append(status.split()[0])
            return start_response(status, headers, exc_info)

        with lock:
            try:
                body = b"".join(app(environ, start))
            except Exception:
                # pydap answers errors inside a dataset as DAP2 error bodies, but a file its
                # handler cannot open crashes the app: answer that one the same way (as
                # THREDDS and Hyrax do).
                body = b"".join(ErrorResponse(sys.exc_info())(environ, start))
        log.write(f"GET {line} {status_seen[-1] if status_seen else '-'} {len(body)}\n")
        return [body]

    server = make_server("127.0.0.1", 0, logged, server_class=Threading, handler_class=Quiet)
    print(f"PORT {server.server_port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
