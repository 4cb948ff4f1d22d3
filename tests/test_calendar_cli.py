"""Calendar handling through the CLI (CliRunner): holidays, weekends, future dates, bad input."""
from typer.testing import CliRunner

from nightdesk.cli import app

runner = CliRunner()


def test_presidents_day_names_previous_session():
    res = runner.invoke(app, ["data", "check", "--date", "2026-02-16"])
    assert res.exit_code == 2
    assert "not a NYSE session" in res.output and "President" in res.output and "2026-02-13" in res.output


def test_saturday():
    res = runner.invoke(app, ["data", "check", "--date", "2026-02-07"])
    assert res.exit_code == 2 and "Saturday" in res.output and "2026-02-06" in res.output


def test_future_date_beyond_data():
    res = runner.invoke(app, ["data", "check", "--date", "2026-09-15"])
    assert res.exit_code == 2 and "beyond the provider's data, which ends 2026-08-03" in res.output


def test_malformed_and_pathlike_dates():
    for bad in ["2026-13-01", "../../x", "yesterday"]:
        res = runner.invoke(app, ["run", "--date", bad])
        assert res.exit_code == 2 and "is not a date" in res.output


def test_snap_and_check_lists_exclusions():
    res = runner.invoke(app, ["data", "check", "--date", "2026-08-01", "--snap"])
    assert res.exit_code == 0, res.output
    assert res.output.startswith("2026-07-31:")
    assert "SOXL stale_close" in res.output


def test_unknown_lang():
    res = runner.invoke(app, ["run", "--date", "2026-02-04", "--lang", "fr"])
    assert res.exit_code == 2 and "--lang fr unknown" in res.output


