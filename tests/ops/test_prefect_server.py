"""The local Prefect server nightdesk starts: where its address comes from, and two first starts on one home."""
from __future__ import annotations

import sqlite3
import threading

import pytest

from nightdesk.cli.prefect_server import LocalPrefectServer, configured_api_url, describe_exit, healthy


def test_api_url_from_the_environment_then_the_active_profile(tmp_path):
    profiles = tmp_path / "profiles.toml"
    profiles.write_text('active = "desk"\n[profiles.desk]\nPREFECT_API_URL = "http://prefect.desk:4200/api"\n[profiles.other]\n')
    env = {"PREFECT_HOME": str(tmp_path)}
    assert configured_api_url(env) == "http://prefect.desk:4200/api"
    assert configured_api_url({**env, "PREFECT_PROFILE": "other"}) is None
    assert configured_api_url({**env, "PREFECT_API_URL": "http://127.0.0.1:1/api"}) == "http://127.0.0.1:1/api"
    assert configured_api_url({"PREFECT_HOME": str(tmp_path / "none")}) is None
    profiles.write_text("not toml [")
    assert configured_api_url(env) is None


def test_exit_codes_in_words():
    assert describe_exit(-9) == "signal 9 (SIGKILL)" and describe_exit(3) == "exit code 3"


@pytest.mark.slow
def test_first_starts_wait_for_each_other_and_new_homes_start_migrated(tmp_path):
    """Two commands starting at once on a fresh home: one migrates the new database, then the other
    starts (at once, they collided: 'Application startup failed' in one of two tries). The migrated
    empty database is kept, and a new home starts from a copy of it."""
    templates = tmp_path / "templates"
    servers = [LocalPrefectServer(tmp_path / "prefect", services=False, template_dir=templates) for _ in range(2)]
    errors: list[BaseException] = []
    ready = threading.Barrier(3)
    done = threading.Event()

    def start(server):
        try:
            server.start()
            server.wait_ready(180)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        ready.wait()
        done.wait(120)  # a child started by a thread dies with that thread (PR_SET_PDEATHSIG): keep it

    threads = [threading.Thread(target=start, args=(s,)) for s in servers]
    later = LocalPrefectServer(tmp_path / "other-home", services=False, template_dir=templates)
    try:
        for t in threads:
            t.start()
        ready.wait(240)
        assert not errors, errors
        assert all(healthy(s.api_url) for s in servers)
        log = (tmp_path / "prefect" / "server.log").read_text()
        assert log.count("starts prefect server") == 2 and "Traceback" not in log, log[-3000:]
        (template,) = templates.glob("prefect-*.db")
        later.start()
        assert later.database.stat().st_size == template.stat().st_size  # a copy, before the server even runs
        with sqlite3.connect(later.database) as db, sqlite3.connect(servers[0].database) as first:
            version = "select version_num from alembic_version"
            assert db.execute(version).fetchone() == first.execute(version).fetchone() is not None  # migrated
        # (a server answering on a copied database: tests/ops/test_one_off.py, whose fresh homes start from it)
    finally:
        for s in [*servers, later]:
            s.stop()
        done.set()


def test_a_port_left_in_time_wait_is_free_a_listener_is_not():
    """serve restarted at once after Ctrl-C: the old server's connections in TIME-WAIT do not make
    its port 'in use' (the server binds with SO_REUSEADDR too); a listening socket does."""
    import socket

    from nightdesk.cli.prefect_server import port_in_use

    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    assert port_in_use("127.0.0.1", port)
    client = socket.create_connection(("127.0.0.1", port))
    accepted, _ = listener.accept()
    accepted.close()  # the server side closes first: its end of the connection waits in TIME-WAIT
    client.close()
    listener.close()
    assert not port_in_use("127.0.0.1", port)
