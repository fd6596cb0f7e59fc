"""The console's pages, one router per page group; `services.console.app` includes them all.

signin       GET /, /login, /auth/callback, /signed-out; POST /logout
queue        GET /queue, /live/queue
alerts       POST /alerts/{notice_id}/acknowledge, GET /live/alerts (immediate danger)
items        GET /items/{notice_id}
break_glass  POST /items/{notice_id}/break-glass (emergency access request) and its panel;
             GET /break-glass/alerts (the owning agency's alerts of emergency access)
withdrawn    a withdrawn notice's tombstone; POST /items/{notice_id}/withdrawal/acknowledge
children     GET /children/{handle}, /live/children/{handle}
decisions    POST /children/{handle}/decisions; GET|POST .../decisions/{decision_id}/amend
allocation   POST /items/{notice_id}/allocation (take or release a contact)
reviews      GET /reviews, /reviews/{review_id}; POST /reviews/{review_id}/decision
search       GET /search, POST /search (find a child, audited as CHILD_SEARCHED)
research     POST /children/{handle}/research; GET /research, /research/{id}; POST .../findings
sent_to_me   GET /sent-to-me (decisions and return interviews for a social worker)
governance   GET /governance (the IG officer's landing: no feed, their tools)
session      POST /session/keepalive, GET /live/session (the idle warning)
live         GET /live/events (Server-Sent Events)
ops          GET /healthz, /readyz

What the routers share:
dependencies who is asking (FastAPI dependencies) and what a signed-out request gets
rendering    the templates and the context every page has
forms        the session's CSRF token and single-use decision-form tokens
refusals     a 403, after its audit event
not_found    the 404 and 405 pages
desks        which desk a person works at: where they land, what their navigation counts
agency_checks  the agency checks on a child's page
"""

__all__: list[str] = []
