"""The `mscsql db` commands as a user runs them: a real subprocess, real databases."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests import dbutil


def mscsql(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "mscsql.cli", *args], capture_output=True, text=True,
                          timeout=timeout, env=env)


def test_inspect_and_query_on_every_engine(any_db_url: str) -> None:
    inspected = mscsql("db", "inspect", any_db_url)
    assert inspected.returncode == 0, inspected.stderr
    assert "Order Details" in inspected.stdout and "Expensive Items" in inspected.stdout
    assert "FK -> items(id)" in inspected.stdout
    as_json = json.loads(mscsql("db", "inspect", any_db_url, "--json").stdout)
    assert {t["name"] for t in as_json["tables"]} >= {"items", "orders", "Order Details"}

    queried = mscsql("db", "query", any_db_url, "SELECT name, price FROM items WHERE price > 10 ORDER BY price")
    assert queried.returncode == 0, queried.stderr
    assert "Crème brûlée" in queried.stdout and "Gadget" in queried.stdout
    assert "2 rows" in queried.stderr
    data = json.loads(mscsql("db", "query", any_db_url, "SELECT id FROM items ORDER BY id", "--json",
                             "--max-rows", "2").stdout)
    assert data["rows"] == [[1], [2]] and data["truncated"] is True and data["status"] == "ok"


def test_refused_and_failing_queries_exit_1_without_traceback(sqlite_path: Path) -> None:
    refused = mscsql("db", "query", str(sqlite_path), "DROP TABLE items")
    assert refused.returncode == 1
    assert "rejected" in refused.stderr and "DROP" in refused.stderr
    failing = mscsql("db", "query", str(sqlite_path), "SELECT nope FROM items")
    assert failing.returncode == 1 and "no such column" in failing.stderr
    slow = mscsql("db", "query", str(sqlite_path), "--timeout", "0.3",
                  "WITH RECURSIVE r(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM r) SELECT count(*) FROM r")
    assert slow.returncode == 1 and "timeout" in slow.stderr
    for result in (refused, failing, slow):
        assert "Traceback" not in result.stderr + result.stdout


def test_user_errors_exit_2_with_one_message(tmp_path: Path) -> None:
    missing = mscsql("db", "inspect", str(tmp_path / "nope.sqlite"))
    assert missing.returncode == 2
    assert "no SQLite database" in missing.stderr and "Traceback" not in missing.stderr
    unreachable = mscsql("db", "query", "postgresql://u:topsecret@127.0.0.1:1/x", "SELECT 1")
    assert unreachable.returncode == 2
    assert "cannot connect" in unreachable.stderr and "topsecret" not in unreachable.stderr
    assert "Traceback" not in unreachable.stderr
    usage = mscsql("db", "query")
    assert usage.returncode == 2 and "Traceback" not in usage.stderr
    # a generator's URL in an error keeps its host, not its password
    server = tmp_path / "server.yaml"
    server.write_text("use_values: false\nlinking: {linkers: [keep-all]}\ngenerators:\n"
                      "  - {name: local, backend: openai, model: m, options: {base_url: 'http://bob:s3cretpw@127.0.0.1:9/v1'}}\n")
    from mscsql.demo import create_demo

    asked = mscsql("ask", "--config", str(server), "--db", str(create_demo(tmp_path / "demo.sqlite")), "How many?")
    assert asked.returncode == 2 and "no server answers at http://***@127.0.0.1:9/v1" in asked.stderr
    assert "s3cretpw" not in asked.stderr
    # a serve config given where a pipeline config belongs is named as such, with the pipeline it names
    serve = tmp_path / "serve.yaml"
    serve.write_text("pipeline: tiny\ndatabases:\n  demo: {url: demo.sqlite}\n")
    wrong = mscsql("ask", "--config", str(serve), "--db", str(tmp_path / "demo.sqlite"), "How many?")
    assert wrong.returncode == 2 and "is a serve config" in wrong.stderr and "--config tiny" in wrong.stderr
    # the placeholder user of the project's own example URLs is shown as written
    missing = mscsql("ask", "--config", str(server), "--db", str(tmp_path / "nowhere.sqlite"), "How many?")
    assert missing.returncode == 2 and "postgresql://user@localhost/dbname" in missing.stderr


#: a statement that runs for a minute, per engine, and how the server lists it while it runs
_ENDLESS = {
    "sqlite": "WITH RECURSIVE r(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM r) SELECT count(*) FROM r",
    "postgresql": "SELECT pg_sleep(60) AS slept_on_ctrl_c",
    "mysql": "SELECT SLEEP(60) AS slept_on_ctrl_c",
}


def _still_running(engine: str) -> int:
    """How many statements of the test still run on the server (0 for SQLite, which runs in the process)."""
    if engine == "sqlite":
        return 0
    conn = dbutil.admin_connection(engine)
    try:
        with conn.cursor() as cur:
            if engine == "postgresql":
                cur.execute("SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query LIKE "
                            "'%slept_on_ctrl_c%' AND pid <> pg_backend_pid()")
            else:
                cur.execute("SELECT count(*) FROM information_schema.processlist WHERE info LIKE "
                            "'SELECT SLEEP(60) AS slept_on_ctrl_c%'")
            return int(cur.fetchone()[0])
    finally:
        conn.close()


def test_ctrl_c_stops_a_running_statement_at_once(any_db_url: str) -> None:
    """Ctrl+C (SIGINT to the command's process group, as a terminal sends it) while a statement runs: the command
    exits 130 at once, not when the statement's 60 s timeout ends, and nothing keeps running on the server."""
    import time

    engine = "postgresql" if any_db_url.startswith("postgresql") else "mysql" if "://" in any_db_url else "sqlite"
    _ctrl_c_ends("db", "query", any_db_url, _ENDLESS[engine], "--timeout", "60", after_s=2.5)
    deadline = time.monotonic() + 5  # a cancel takes effect on the server within moments
    while _still_running(engine) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _still_running(engine) == 0


def _ctrl_c_ends(*args: str, after_s: float) -> None:
    """Start ``mscsql ARGS`` in its own process group (as a terminal does), press Ctrl+C after ``after_s`` seconds
    (SIGINT to the group, as a terminal sends it): the command ends within 10 s, with status 130 and no
    traceback."""
    import signal
    import time

    process = subprocess.Popen([sys.executable, "-m", "mscsql", *args], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        time.sleep(after_s)
        assert process.poll() is None, process.communicate()
        interrupted = time.monotonic()
        os.killpg(process.pid, signal.SIGINT)
        _out, err = process.communicate(timeout=30)
        assert process.returncode == 130, err
        assert time.monotonic() - interrupted < 10
        assert "Traceback" not in err
    finally:
        if process.poll() is None:
            process.kill()


def test_ctrl_c_does_not_wait_for_a_generator_server(tmp_path: Path) -> None:
    """Ctrl+C while the generator's server takes a minute to answer: the command exits 130 at once, not when the
    server answers (the requests in flight are abandoned)."""
    import http.server
    import threading
    import time

    from mscsql.demo import create_demo

    class Slow(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # the model list a preflight may ask for
            body = json.dumps({"data": [{"id": "m"}]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:  # a completion that takes a minute
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            time.sleep(60)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Slow)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    config = tmp_path / "slow.yaml"
    config.write_text("use_values: false\nlinking: {linkers: [keep-all]}\ngenerators:\n  - {name: local, backend: "
                      f"openai, model: m, options: {{base_url: 'http://127.0.0.1:{server.server_port}/v1'}}}}\n")
    try:  # after 4 s the question is with the server
        _ctrl_c_ends("ask", "--config", str(config), "--db", str(create_demo(tmp_path / "demo.sqlite")),
                     "How many customers are there?", after_s=4.0)
    finally:
        server.shutdown()
        server.server_close()
