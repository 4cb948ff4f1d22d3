"""The operator alert as a Prefect state hook: one per failed top-level run.

``nightly-note``, ``backfill`` and ``deliver-note`` carry :func:`notify_operator` as their
``on_failure`` and ``on_crashed`` hook. A flow run inside another (``deliver-note`` within
``nightly-note``) stays quiet: its parent fails too and sends the one alert.
"""
from __future__ import annotations

import datetime as dt
from typing import Any

from prefect.context import FlowRunContext
from prefect.exceptions import MissingContextError
from prefect.logging import get_logger, get_run_logger

from nightdesk.delivery.alerts import Alert, send_alert
from nightdesk.settings import Settings

PLAIN_PARAMETERS = ("date", "today", "start", "end", "provider", "langs", "what", "through")
"""Parameters worth naming in an alert (settings objects and the like are left out)."""


def _text(value: Any) -> str | None:
    if isinstance(value, (str, int, float, dt.date)):
        return str(value)
    if isinstance(value, (list, tuple)) and all(isinstance(x, str) for x in value):
        return ",".join(value)
    return None


def run_settings() -> Settings:
    """The settings the failed run was given (a ``settings`` parameter), else the configured ones."""
    ctx = FlowRunContext.get()
    given = ctx.parameters.get("settings") if ctx is not None else None
    return given if isinstance(given, Settings) else Settings()


def alert_for(flow: Any, flow_run: Any, state: Any) -> Alert:
    """The :class:`Alert` for a flow run that ended in ``state``."""
    ctx = FlowRunContext.get()
    params = ctx.parameters if ctx is not None else dict(flow_run.parameters or {})
    plain = {k: t for k in PLAIN_PARAMETERS if k in params and (t := _text(params[k])) is not None}
    try:
        from prefect.settings import PREFECT_UI_URL

        ui = PREFECT_UI_URL.value()
    except Exception:  # noqa: BLE001 - no UI address is fine
        ui = None
    return Alert(job=flow.name, run=flow_run.name, run_id=str(flow_run.id), state=state.name, message=state.message or "",
                 parameters=plain, url=f"{ui}/runs/flow-run/{flow_run.id}" if ui else None)


def notify_operator(flow: Any, flow_run: Any, state: Any) -> None:
    """Send the alert for a failed or crashed top-level flow run through every configured channel."""
    try:
        logger = get_run_logger()  # to the run's log in the Prefect API
    except MissingContextError:
        logger = get_logger("nightdesk.alerts")
    if getattr(flow_run, "parent_task_run_id", None) is not None:
        return  # a flow run inside another: the parent alerts
    settings = run_settings()
    if not settings.alerts.email_to and settings.alerts.webhook_url is None:
        # info, not warning: a one-off command has already printed its one error line; doctor names the gap
        logger.info("%s %s: no alert channel configured (alerts.email_to, alerts.webhook_url)", flow.name, state.name)
        return
    sent, problems = send_alert(alert_for(flow, flow_run, state), settings)
    for line in sent:
        logger.info("alert sent: %s", line)
    for line in problems:
        logger.error("%s", line)
