"""Agency checks in real Chromium against the real hub (issue 16, item 6: partners' work).

A MASH manager asks the health navigator and the police researcher to check their records on
a contact published through the hub. The navigator signs in and lands on "Research requested
of me" (not a decision queue they cannot act on), opens the check (the contact as their own
feed shows it), and records findings and their own RAG. The manager reloads the child's page
and reads the findings above the decision form. The social worker, outside the MASH, lands
on "Sent to me" and sees no findings anywhere. The request and the answer are console-signed
RESEARCH_REQUESTED / RESEARCH_ANSWERED events on audit.access.v1, with digests, never the text.
Screenshots go to artifacts/screenshots/.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from typing import Any

import pytest
from aiokafka import ConsumerRecord
from playwright.async_api import expect

from services.hubkit.settings import HubSettings
from services.hubkit.topology import AUDIT_ACCESS_TOPIC, Topology
from tests.console.browser.conftest import SCREENSHOTS, Agencies, sign_in
from tests.console.browser.test_console_in_browser import Bus
from tests.console.harness import ConsoleServers
from tests.integration.bus import TopicReader

pytestmark = [pytest.mark.kafka, pytest.mark.opa, pytest.mark.timeout(900)]

QUESTION = "Any unscheduled care or A&E attendances in the last three months?"
FINDINGS = "Two A&E attendances this month with unexplained bruising; GP safeguarding flag."


async def test_a_partner_answers_an_agency_check_before_the_manager_decides(
    stack: HubSettings,
    topology: Topology,
    gateway: None,
    servers: ConsoleServers,
    open_browser: Any,
    agencies: Agencies,
) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    bus = Bus(stack)
    audit = await TopicReader(stack, "audit", AUDIT_ACCESS_TOPIC).start()
    feeds = {
        sid: await TopicReader(stack, f"feed-{sid}", f"feed.{sid}.v1").start()
        for sid in ("mash-manager", "mash-health-navigator", "mash-police-researcher")
    }
    child = agencies.synthetic.child()
    contact = agencies.synthetic.notice("SAFEGUARDING_CONTACT", child=child)
    contact["risk"] = {"level": "MEDIUM", "immediate_danger": False}
    contact_id = await agencies.publish(contact)
    for reader in feeds.values():  # released to the manager and to both partner desks (R1, R2)
        await reader.read_until(
            lambda rs: any(str(bus.feed_item(r)["notice_id"]) == contact_id for r in rs),
            timeout_s=90,
        )
        await reader.stop()
    await asyncio.sleep(1)  # the console applies what the feeds released (~0.2 s)

    # The manager asks both partner desks, with a question, from the child's page.
    manager = await sign_in(await open_browser(), servers, "mash.manager")
    await manager.goto(f"{servers.console_url}/items/{contact_id}")
    await manager.get_by_role("link", name=re.compile("^Open the child's chronology")).click()
    await manager.wait_for_url(re.compile(r"/children/[A-Za-z0-9_-]+$"))
    child_url = manager.url
    checks = manager.locator("section.research")
    await checks.get_by_label("Health navigator").check()
    await checks.get_by_label("Police researcher").check()
    await checks.get_by_label("Question for the partners (optional)").fill(QUESTION)
    await checks.get_by_role("button", name="Request agency checks").click()
    await expect(manager.locator(".flash")).to_contain_text(
        "Agency checks requested of: Health navigator, Police researcher."
    )
    await expect(checks).to_contain_text("Health navigator: Requested: Due in")

    # The navigator lands on the checks asked of their desk, not on a decision queue.
    navigator = await sign_in(await open_browser(), servers, "health.navigator")
    assert navigator.url == f"{servers.console_url}/research"
    await expect(navigator.get_by_role("heading", level=1)).to_have_text("Research requested of me")
    name = f"{contact['subject']['given_name']} {contact['subject']['family_name']}"
    row = navigator.locator("tr", has_text=QUESTION)
    await expect(row).to_contain_text(name)
    await expect(
        navigator.get_by_role("link", name=re.compile("^Research requested of me"))
    ).to_contain_text("1")
    await navigator.screenshot(
        path=str(SCREENSHOTS / "research-requested-of-me.png"), full_page=True
    )
    await row.get_by_role("link", name=name).click()
    await navigator.wait_for_url(re.compile(r"/research/[0-9a-f-]{36}$"))
    await expect(
        navigator.get_by_role("heading", level=2, name="Record your findings")
    ).to_be_visible()
    await navigator.get_by_label("Information held").check()
    await navigator.get_by_role("textbox", name="Findings").fill(FINDINGS)
    await navigator.get_by_label("Amber", exact=True).check()
    await navigator.screenshot(path=str(SCREENSHOTS / "research-answer-form.png"), full_page=True)
    await navigator.get_by_role("button", name="Record findings").click()
    await navigator.wait_for_url(f"{servers.console_url}/research")
    await expect(navigator.locator(".flash")).to_contain_text("Findings recorded")
    await expect(navigator.locator("main")).to_contain_text("No checks are waiting for your desk.")

    # The manager reloads the child's page: the findings and the partner's RAG, above the
    # decision form; the police researcher has not answered yet.
    await manager.goto(child_url)
    findings = manager.locator("section.research li", has_text="Health navigator")
    await expect(findings).to_contain_text(FINDINGS)
    await expect(findings).to_contain_text("Information held")
    await expect(findings).to_contain_text("Amber")
    await expect(findings).to_contain_text("Hollis Brae (synthetic)")
    await expect(
        manager.locator("section.research li", has_text="Police researcher")
    ).to_contain_text("Requested")
    above = await manager.evaluate(
        "document.getElementById('research-title').compareDocumentPosition("
        "document.getElementById('decision-title')) & Node.DOCUMENT_POSITION_FOLLOWING"
    )
    assert above, "the findings come before the decision form"
    await manager.screenshot(
        path=str(SCREENSHOTS / "research-findings-on-child.png"), full_page=True
    )

    # The social worker (outside the MASH) lands on "Sent to me" and sees no findings.
    social = await sign_in(await open_browser(), servers, "social.worker")
    assert social.url == f"{servers.console_url}/sent-to-me"
    await expect(
        social.get_by_role("heading", level=2, name="Decisions sent to me")
    ).to_be_visible()
    for path in ("/sent-to-me", "/research", f"/items/{contact_id}", child_url):
        await social.goto(path if path.startswith("http") else f"{servers.console_url}{path}")
        await expect(social.locator("main")).not_to_contain_text(FINDINGS)
    await social.goto(f"{servers.console_url}/sent-to-me")
    await social.screenshot(path=str(SCREENSHOTS / "sent-to-me.png"))  # the top: hundreds of rows

    # Both the request and the answer are on the access topic, signed by the console.
    def research(records: list[ConsumerRecord]) -> list[dict[str, Any]]:
        events = [bus.access_event(r) for r in records]
        return [
            e
            for e in events
            if e is not None and e.get("research") and e["notice_id"] == contact_id
        ]

    logged = research(await audit.read_until(lambda rs: len(research(rs)) >= 3, timeout_s=30))
    await audit.stop()
    kinds = sorted((e["event"], e["research"]["partner"]) for e in logged)
    assert kinds == [
        ("RESEARCH_ANSWERED", "mash-health-navigator"),
        ("RESEARCH_REQUESTED", "mash-health-navigator"),
        ("RESEARCH_REQUESTED", "mash-police-researcher"),
    ]
    answered = next(e for e in logged if e["event"] == "RESEARCH_ANSWERED")
    assert answered["research"]["partner_rag"] == "AMBER"
    assert answered["research"]["findings_sha256"] == (
        "sha256:" + hashlib.sha256(FINDINGS.encode()).hexdigest()
    )
    assert answered["feed"]["subscriber_id"] == "mash-health-navigator"
    assert FINDINGS not in repr(logged)
    assert QUESTION not in repr(logged)
