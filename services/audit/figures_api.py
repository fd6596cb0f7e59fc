"""The prevalence figures and the decision mix, served by the IG API (issue 17): the same
reports as `safehub audit prevalence` / `decision-mix` (`services.audit.figures`), as a page
or one CSV table, for an IG officer signed in with a bearer token or a browser session.

    GET /v1/figures/prevalence?from=2026-04-01&to=2027-04-01[&threshold=5][&round_to=5]
                               [&format=csv&table=children_by_month_and_concern]
    GET /v1/figures/decision-mix?from=2026-10-01&to=2026-12-01[&period=week|month]
                                 [&format=csv&table=decision_mix_by_recipient]

Wired by `services.audit.api.create_app` (`figures_router`), which hands in its audited
dependency, so every request is logged before it runs (a malformed one too: the 400 comes
after the entry). Dates are days (YYYY-MM-DD, UTC), `to` exclusive as in the CLI. The CSV a
route returns is the published table, so a value the page suppresses is `[c]` in it too:
nothing here reads a count the disclosure control has not passed.
"""

import asyncio
import datetime as dt
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, Response

from services.audit.break_glass_routes import BREAK_GLASS_REVIEWS_STATE, break_glass_mix
from services.audit.disclosure import DisclosureRules
from services.audit.figures import (
    decision_mix_report,
    prevalence_report,
    read_characteristics,
    read_decision_rows,
    repeat_missing_rule,
    sender_agencies,
)
from services.audit.prevalence import Period

__all__ = ["MAX_DAYS", "MIN_THRESHOLD", "figures_router"]

MAX_DAYS = 3 * 366
"""The longest period one request may cover: every decision in it is read and decoded."""

MIN_THRESHOLD = 5
"""The API never serves prevalence counts of 1-4 (the CLI's --threshold may go lower for
work inside the hub; what a browser downloads gets circulated)."""

_LEAF_HEADER = "X-Audit-Access-Leaf"
"""`api.ACCESS_LEAF_HEADER` (api.py imports this module): a Response returned as is does not
carry the headers the audited dependency set, so the routes copy it."""

_HEADERS = {
    "Cache-Control": "no-store",
    # Inline SVG and an inline style sheet only: no script, nothing fetched.
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
    "img-src data:; frame-ancestors 'none'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}

FromQ = Annotated[str | None, Query(alias="from", description="First day, YYYY-MM-DD (UTC).")]
ToQ = Annotated[
    str | None, Query(alias="to", description="Day after the last, YYYY-MM-DD (exclusive).")
]
FormatQ = Annotated[str, Query(alias="format", description="html (default) or csv.")]
TableQ = Annotated[str | None, Query(description="With format=csv: which table.")]


def _bad(reason: str) -> HTTPException:
    return HTTPException(status_code=400, detail=reason)


def _day(name: str, text: str | None) -> dt.datetime:
    if text is None or not text.strip():
        raise _bad(f"give '{name}' as a date, YYYY-MM-DD, e.g. {name}=2026-04-01")
    try:
        day = dt.date.fromisoformat(text.strip())
    except ValueError:
        raise _bad(
            f"'{name}' is not a date; write it as YYYY-MM-DD, e.g. {name}=2026-04-01"
        ) from None
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)


def _period_of(start_text: str | None, end_text: str | None) -> tuple[dt.datetime, dt.datetime]:
    start, end = _day("from", start_text), _day("to", end_text)
    if end <= start:
        raise _bad("'to' must be after 'from' (the period ends before 'to')")
    if (end - start).days > MAX_DAYS:
        raise _bad(f"the period may be at most {MAX_DAYS} days; ask for it in parts")
    return start, end


def _rules(threshold: int, round_to: int | None) -> DisclosureRules:
    if threshold < MIN_THRESHOLD:
        raise _bad(f"'threshold' must be at least {MIN_THRESHOLD}: smaller counts are never served")
    if round_to is not None and round_to < 1:
        raise _bad("'round_to' must be a whole number of at least 1, e.g. 5")
    return DisclosureRules(threshold=threshold, round_to=round_to)


def _render(
    access: Any, *, fmt: str, table: str | None, html: str, csv_files: Mapping[str, str]
) -> Response:
    headers = {**_HEADERS, _LEAF_HEADER: str(access.leaf_index)}
    if fmt == "html":
        return HTMLResponse(html, headers=headers)
    if fmt != "csv":
        raise _bad("'format' must be html or csv")
    tables = {name.removesuffix(".csv"): text for name, text in csv_files.items()}
    if table not in tables:
        raise _bad("with format=csv, give 'table' as one of: " + ", ".join(sorted(tables)))
    return Response(
        tables[table],
        media_type="text/csv; charset=utf-8",
        headers={
            **headers,
            "Content-Disposition": f'attachment; filename="{table}.csv"',
        },
    )


def figures_router(*, audited: Callable[..., Any], policies_dir: Path) -> APIRouter:
    """The two routes, given the API's audited dependency (logs the query before it runs,
    refuses callers without the IG role) and the policy bundle (R8's threshold, the
    agencies' organisation codes)."""
    Access = Annotated[Any, Depends(audited)]
    router = APIRouter(prefix="/v1/figures", tags=["figures"])

    def generated_at(request: Request) -> dt.datetime:
        ms: int = request.app.state.ctx.clock_ms()
        return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC)

    @router.get("/prevalence", name="figures_prevalence", response_class=HTMLResponse)
    async def prevalence(
        request: Request,
        access: Access,
        start_text: FromQ = None,
        end_text: ToQ = None,
        threshold: int = MIN_THRESHOLD,
        round_to: int | None = None,
        fmt: FormatQ = "html",
        table: TableQ = None,
    ) -> Response:
        """Prevalence figures for the partnership, small counts suppressed (disclosure.py)."""
        start, end = _period_of(start_text, end_text)
        rules = _rules(threshold, round_to)
        ctx = request.app.state.ctx
        rule = repeat_missing_rule(policies_dir)
        rows = await asyncio.to_thread(
            read_decision_rows,
            ctx.store,
            ctx.catalog,
            # Repeat missing looks back R8's window before the period starts.
            start=start - dt.timedelta(days=rule.window_days),
            end=end,
            agencies=sender_agencies(policies_dir),
        )
        # Age band and sex from the child index (the audit log holds neither).
        characteristics = await read_characteristics(
            request.app.state.child_lookup, rows, start=start, end=end
        )
        report = await asyncio.to_thread(
            prevalence_report,
            rows,
            start=start,
            end=end,
            repeat_rule=rule,
            rules=rules,
            generated_at=generated_at(request),
            characteristics=characteristics,
        )
        return _render(access, fmt=fmt, table=table, html=report.html, csv_files=report.csv_files())

    @router.get("/decision-mix", name="figures_decision_mix", response_class=HTMLResponse)
    def decision_mix(
        request: Request,
        access: Access,
        start_text: FromQ = None,
        end_text: ToQ = None,
        period: str = "month",
        fmt: FormatQ = "html",
        table: TableQ = None,
    ) -> Response:
        """Sharing outcomes by recipient and by rule, per week or month (exact counts, for
        the IG officer only)."""
        start, end = _period_of(start_text, end_text)
        try:
            per = Period(period)
        except ValueError:
            raise _bad("'period' must be week or month") from None
        ctx = request.app.state.ctx
        rows = read_decision_rows(
            ctx.store, ctx.catalog, start=start, end=end, agencies=sender_agencies(policies_dir)
        )
        # Emergency access grants by recipient and by the owning agency's review (issue 18).
        break_glass = break_glass_mix(
            ctx.store,
            ctx.catalog,
            ctx.agency_of_organisation,
            getattr(request.app.state, BREAK_GLASS_REVIEWS_STATE),
            start=start,
            end=end,
        )
        report = decision_mix_report(
            rows,
            start=start,
            end=end,
            period=per,
            generated_at=generated_at(request),
            break_glass=break_glass,
        )
        return _render(access, fmt=fmt, table=table, html=report.html, csv_files=report.csv_files())

    return router
