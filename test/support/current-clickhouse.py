"""Runs staas's DDL and the Query API's statements on a current ClickHouse engine (chdb, embedded).

The local server is ClickHouse 18.16; users run current versions. This reads JSON from stdin,
{"ddl": [statement, ...], "statements": [{"label": ..., "sql": ...}, ...]}, creates the tables in a
fresh in-process chdb session, runs every statement (on the empty tables: what fails on a newer
version fails at parse and analysis time), and prints {"version": ..., "failures": [...]} as JSON.
"""

import json
import sys
import tempfile

from chdb import session


def main() -> None:
    job = json.load(sys.stdin)
    failures = []
    with tempfile.TemporaryDirectory() as path:
        s = session.Session(path)
        version = str(s.query("SELECT version()", "CSV")).strip().strip('"')
        for statement in job["ddl"]:
            try:
                s.query(statement)
            except Exception as err:  # chdb raises a plain RuntimeError with the server's message
                failures.append({"label": "ddl", "sql": statement[:300], "error": str(err)[:500]})
        for st in job["statements"]:
            try:
                s.query(st["sql"], "JSON")
            except Exception as err:
                failures.append({"label": st["label"], "sql": st["sql"][:2000], "error": str(err)[:800]})
        s.close()
    print(json.dumps({"version": version, "failures": failures}))


if __name__ == "__main__":
    main()
