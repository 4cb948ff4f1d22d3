"""``nightdesk doctor`` (one line per check, exit 1 on a problem) and ``nightdesk serve``'s one-line refusals."""
from __future__ import annotations

import socket

from typer.testing import CliRunner

from nightdesk.cli.app import app

SECRET = "doctor-test-secret-0123456789-abcdefghijkl"


def _doctor(tmp_path, **env):
    base = {"NIGHTDESK_HOME": str(tmp_path), "NIGHTDESK_CONFIG": "", "PREFECT_API_URL": ""}
    return CliRunner().invoke(app, ["doctor"], env={**base, **env})


def _lines(result, status: str) -> dict[str, str]:
    """check name -> detail, for the lines of one status."""
    label = {"ok": "ok     ", "note": "note   ", "problem": "PROBLEM"}[status]
    return {line[8:].split(":", 1)[0]: line[8:].split(":", 1)[1] for line in result.output.splitlines() if line.startswith(label)}


def test_a_ready_machine_with_the_outbox(tmp_path):
    res = _doctor(tmp_path, NIGHTDESK_PREFECT__PORT="0")
    assert res.exit_code == 0, res.output
    ok = _lines(res, "ok")
    assert {"config", "fonts", "librsvg", "harfbuzz", "prefect", "folders"} <= set(ok)
    assert "Noto Sans CJK" in ok["fonts"] and "subsetting works" in ok["harfbuzz"] and "rsvg-convert" in ok["librsvg"]
    assert f"home {tmp_path}" in ok["config"]
    assert set(_lines(res, "note")) == {"mail", "web", "alerts"}  # outbox, no secret needed, no alert channel: said, not failed
    assert res.output.strip().endswith("0 problems")


def test_smtp_that_answers_with_real_addresses(tmp_path, smtp_sink):
    _, port = smtp_sink
    res = _doctor(tmp_path, NIGHTDESK_DELIVERY__TRANSPORT="smtp", NIGHTDESK_DELIVERY__SMTP__PORT=str(port),
                  NIGHTDESK_DELIVERY__FROM_ADDR="Desk <desk@desk.news>", NIGHTDESK_DELIVERY__UNSUBSCRIBE_MAILTO="unsubscribe@desk.news",
                  NIGHTDESK_WEB__BASE_URL="https://notes.desk.news", NIGHTDESK_WEB__SECRET_KEY=SECRET, NIGHTDESK_PREFECT__PORT="0",
                  NIGHTDESK_ALERTS__EMAIL_TO='["ops@desk.news"]')
    assert res.exit_code == 0, res.output
    ok = _lines(res, "ok")
    assert f"127.0.0.1:{port} (none): EHLO and sender desk@desk.news accepted" in ok["smtp"] and "secret key set" in ok["web"] and "ops@desk.news" in ok["alerts"]


def test_every_problem_named_with_its_fix(tmp_path):
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        dead = closed.getsockname()[1]
    (tmp_path / "a-file").write_text("x")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        res = _doctor(tmp_path, NIGHTDESK_DELIVERY__TRANSPORT="smtp", NIGHTDESK_DELIVERY__SMTP__PORT=str(dead),
                      NIGHTDESK_OUTPUT_DIR=str(tmp_path / "a-file" / "out"), NIGHTDESK_PREFECT__PORT=str(taken.getsockname()[1]),
                      NIGHTDESK_ALERTS__WEBHOOK_URL=f"http://127.0.0.1:{dead}/hook")
    assert res.exit_code == 1
    problems = [line for line in res.output.splitlines() if line.startswith("PROBLEM")]
    text = "\n".join(problems)
    assert "nightdesk.invalid is a placeholder" in text and "web.base_url is not set" in text  # placeholder sender and site
    assert f"smtp: cannot connect to SMTP server 127.0.0.1:{dead}: connection refused" in text
    assert "web.secret_key is not set" in text and "output_dir" in text and "a-file" in text
    assert "prefect.port" in text and "is taken" in text and f"webhook host 127.0.0.1:{dead}" in text
    assert all(" — fix: " in line for line in problems)


def test_a_dead_prefect_api_is_a_problem(tmp_path):
    res = _doctor(tmp_path, PREFECT_API_URL="http://127.0.0.1:9/api")
    assert res.exit_code == 1 and "PROBLEM prefect: PREFECT_API_URL http://127.0.0.1:9/api does not answer" in res.output


def test_serve_refuses_in_one_line(tmp_path):
    runner = CliRunner()
    env = {"NIGHTDESK_HOME": str(tmp_path), "PREFECT_API_URL": ""}
    bad_cron = runner.invoke(app, ["serve", "--cron", "99 * * *"], env=env)
    assert bad_cron.exit_code == 2 and bad_cron.stderr.startswith("error: --cron '99 * * *' is not a cron schedule")
    assert "Value error" not in bad_cron.stderr  # pydantic's prefix is not the reader's business
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        busy = runner.invoke(app, ["serve"], env={**env, "NIGHTDESK_PREFECT__PORT": str(port)})
    assert busy.exit_code == 2 and len(busy.stderr.splitlines()) == 1
    assert busy.stderr.startswith(f"error: prefect.port {port} on 127.0.0.1 is in use")
