"""A ClickHouse HTTP endpoint over chdb (PyPI), the current ClickHouse engine embedded in Python.

The local server is ClickHouse 18.16; users run current versions. With this, the project's own
code (@clickhouse/client, the schema module, the sink's RowBinary inserts, retention, the token
store, the Query API) runs unchanged against a current engine: the forward-compatibility suite.

Usage: python chdb-http.py <data dir>   (prints "listening <port>" once ready; stops on stdin EOF)

What it implements of ClickHouse's HTTP interface (what @clickhouse/client uses):
- GET /ping -> "Ok.";
- POST with the statement in the body, or in the `query` URL parameter with the data in the body
  (an INSERT ... FORMAT F: the data is written to a file and read with FROM INFILE);
- other URL parameters are settings, applied for that request only (SET, then SET ... = DEFAULT);
  the client's own (query_id, database, session ids, compression) are ignored;
- errors answer 500 with the engine's text ("Code: N. DB::Exception: ...") and
  X-ClickHouse-Exception-Code, as the server does.
One statement at a time (chdb's session is not concurrent); connections are served in threads.
"""

import os
import re
import sys
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

from chdb import session

CLIENT_PARAMS = {"query", "query_id", "database", "session_id", "session_timeout", "session_check",
                 "enable_http_compression", "default_format", "user", "password", "wait_end_of_query"}
FORMAT_AT_END = re.compile(r"\bFORMAT\s+(\w+)\s*;?\s*$", re.IGNORECASE)
INSERT_WITH_DATA = re.compile(r"^(\s*INSERT\s+INTO\s+.*?)\s+FORMAT\s+(\w+)\s*;?\s*$", re.IGNORECASE | re.DOTALL)
SETTING_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class Engine:
    def __init__(self, path):
        self.session = session.Session(path)
        self.lock = threading.Lock()
        self.spool = tempfile.mkdtemp(prefix="chdb-http-")

    def run(self, statement, data, settings):
        with self.lock:
            applied = []
            try:
                for name, value in settings.items():
                    self.session.query(f"SET {name} = '{value}'" if not value.lstrip("-").isdigit() else f"SET {name} = {value}")
                    applied.append(name)
                if data:
                    m = INSERT_WITH_DATA.match(statement)
                    if m is None:
                        raise RuntimeError("Code: 62. DB::Exception: data in the body of a statement that is not INSERT ... FORMAT")
                    path = os.path.join(self.spool, "body")
                    with open(path, "wb") as f:
                        f.write(data)
                    self.session.query(f"{m.group(1)} FROM INFILE '{path}' FORMAT {m.group(2)}")
                    return b""
                m = FORMAT_AT_END.search(statement)
                result = self.session.query(statement, m.group(1) if m else "TabSeparated")
                return bytes(result.bytes()) if result is not None else b""
            finally:
                for name in applied:
                    self.session.query(f"SET {name} = DEFAULT")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    engine = None

    def log_message(self, *args):  # quiet
        pass

    def answer(self, status, body, extra=None):
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=UTF-8")
        self.send_header("Content-Length", str(len(body)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if urlparse(self.path).path == "/ping":
            return self.answer(200, b"Ok.\n")
        return self.handle_statement(b"")

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            body = self.rfile.read(length)
        elif self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            body = b""
            while True:
                size = int(self.rfile.readline().strip(), 16)
                if size == 0:
                    self.rfile.readline()
                    break
                body += self.rfile.read(size)
                self.rfile.readline()
        else:
            body = b""
        return self.handle_statement(body)

    def handle_statement(self, body):
        params = {k: v[-1] for k, v in parse_qs(urlparse(self.path).query, keep_blank_values=True).items()}
        settings = {k: v for k, v in params.items() if k not in CLIENT_PARAMS and SETTING_NAME.match(k)}
        if "query" in params:
            statement, data = params["query"], body
        else:
            statement, data = body.decode("utf-8"), b""
        try:
            out = self.engine.run(statement, data, settings)
        except Exception as err:  # chdb raises ChdbError / RuntimeError with the engine's text
            text = str(err)
            m = re.search(r"Code: (\d+)", text)
            return self.answer(500, text.encode("utf-8"), {"X-ClickHouse-Exception-Code": m.group(1) if m else "1000"})
        return self.answer(200, out)


def main():
    Handler.engine = Engine(sys.argv[1])
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(f"listening {server.server_address[1]}", flush=True)
    sys.stdin.read()  # until the parent closes stdin (or exits)
    server.shutdown()


if __name__ == "__main__":
    main()
