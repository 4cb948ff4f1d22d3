"""The deployments ``nightdesk serve`` registers and runs (``prefect.yaml`` declares the same for a work pool).

* ``nightly-note/nightly``: publish the night's note, then deliver it; on the nightly cron
  (New York time). Two runs for one night cannot publish at once (the date's lock fails the
  second) and cannot send twice (the delivery ledger);
* ``regenerate-note/regenerate``: publish one date again (parameter ``date``), on demand;
* ``deliver-note/deliver``: deliver one published date again (``date``), on demand;
* ``backfill/backfill``: publish every session between ``start`` and ``end``, on demand.

Entry points are module paths (``nightdesk.flows.nightly.nightly_note``): a flow run loads the
installed package, whatever its working directory.
"""
from __future__ import annotations

from prefect.deployments.runner import EntrypointType
from prefect.schedules import Cron
from prefect.utilities.asyncutils import run_coro_as_sync

from nightdesk.flows.backfill import backfill
from nightdesk.flows.deliver import deliver_note
from nightdesk.flows.nightly import nightly_note, regenerate_note

NIGHTLY_CRON = "30 18 * * 1-5"
"""18:30 New York time, Monday to Friday: after the close has settled; holidays are skipped by the flow."""
TIMEZONE = "America/New_York"


def nightly_schedule(cron: str = NIGHTLY_CRON) -> Cron:
    """``cron`` in New York time (raises ``ValueError`` for a malformed cron string)."""
    return Cron(cron, timezone=TIMEZONE)


def served_deployments(cron: str = NIGHTLY_CRON) -> list:
    """The nightly deployment on ``cron`` and the on-demand ones.

    Built with Prefect's async builder run to completion (``to_deployment`` returns a coroutine
    when an event loop happens to run in the thread).
    """
    module = EntrypointType.MODULE_PATH
    specs = [
        (nightly_note, dict(name="nightly", schedule=nightly_schedule(cron),
                            description="Publish the night's note, then deliver it; holidays are skipped.")),
        (regenerate_note, dict(name="regenerate", description="Publish one date again.")),
        (deliver_note, dict(name="deliver", description="Deliver a published date (idempotent).")),
        (backfill, dict(name="backfill", description="Publish every session between two dates.")),
    ]
    return [run_coro_as_sync(fl.ato_deployment(entrypoint_type=module, **kw)) for fl, kw in specs]
