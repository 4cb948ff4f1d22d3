"""Read every session of a span back against its facts, in all three editions.

The test suite checks every other session of 2025; this checks every session of any span of the
bundled sample (or the configured provider) and prints each contradiction the claims checker
finds, the count of each story of the day and the time taken. Exit code 1 when anything is found.

    .venv/bin/python scripts/check_claims.py --start 2022-01-01 --end 2022-12-31 [--provider sample]
"""
from __future__ import annotations

import argparse
import collections
import datetime as dt
import sys
import time


def main(argv: list[str] | None = None) -> int:
    from nightdesk import facts
    from nightdesk.marketdata.calendar import sessions_between
    from nightdesk.marketdata.registry import MarketDataBatch, provider_from_settings
    from nightdesk.narrative.claims import check, edition_of
    from nightdesk.narrative.compose import LANGS, as_text, compose_note, tw2cn
    from nightdesk.settings import Settings

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--start", type=dt.date.fromisoformat, required=True)
    ap.add_argument("--end", type=dt.date.fromisoformat, required=True)
    ap.add_argument("--provider", default=None, help="provider name (default: the settings')")
    args = ap.parse_args(argv)

    s = Settings()
    provider = provider_from_settings(s, args.provider)
    days = list(sessions_between(args.start, args.end))
    taiwan = [tw for tw, _ in tw2cn()]
    t0, problems, stories = time.perf_counter(), 0, collections.Counter()
    for i in range(0, len(days), 16):
        chunk = days[i : i + 16]
        batch = MarketDataBatch(provider, chunk, history_days=s.history_days)
        for day, rec in sorted(facts.compute_many([batch.for_day(d) for d in chunk], s).items()):
            if isinstance(rec, Exception):
                print(f"{day} no facts: {rec}")
                problems += 1
                continue
            stories[rec.story.primary] += 1
            for lang in LANGS:
                note = compose_note(rec, lang)
                found = check(rec, edition_of(note))
                if lang == "zh-Hans":
                    found += [f"Taiwan wording {w!r}" for w in taiwan if w in as_text(note)]
                for x in found:
                    print(f"{day} {rec.story.primary} {lang}: {x}")
                problems += len(found)
    print(f"{len(days)} sessions, {problems} problems, {time.perf_counter() - t0:.0f} s; stories: {dict(stories.most_common())}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
