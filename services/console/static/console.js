// Live updates for the MASH triage console: progressive enhancement only. Without this
// script every page works (reload to see new notices). With it, the server tells the page
// over Server-Sent Events that something in the signed-in person's feed changed; the page
// then re-fetches its own server-rendered fragment through the normal, access-checked
// routes. Events carry no names or content; a screen reader hears a short neutral line.
(function () {
  "use strict";
  var queue = document.querySelector("[data-live-queue]");
  var child = document.querySelector("[data-live-child]");
  var status = document.getElementById("live-status");
  var indicator = document.querySelector("[data-live-indicator]");
  var alerts = document.querySelector("[data-live-alerts]");
  var summary = document.querySelector("[data-focus-on-load]");
  if (summary) { summary.focus(); }
  if (!window.EventSource || !window.fetch || (!queue && !child && !alerts)) { return; }

  // Immediate-danger alerts, on every page: replaced only when they change, so a screen
  // reader hears a new alert (role="alert") once, not on every refresh.
  function signature(root) {
    var ids = [];
    root.querySelectorAll("li[id^='alert-'], #out-of-hours").forEach(function (el) { ids.push(el.id); });
    return ids.join(" ");
  }
  function refreshAlerts() {
    return fetch(alerts.getAttribute("data-src"), {
      credentials: "same-origin",
      headers: { "Accept": "text/html" },
      cache: "no-store"
    }).then(function (response) {
      if (response.status === 401) { window.location.assign("/"); return null; }
      return response.ok ? response.text() : null;
    }).then(function (html) {
      if (html === null) { return; }
      var fresh = document.createElement("template");
      fresh.innerHTML = html;
      if (signature(fresh.content) === signature(alerts)) { return; }
      var focused = document.activeElement && alerts.contains(document.activeElement);
      alerts.innerHTML = html;
      if (focused) {
        var first = alerts.querySelector("a, button");
        if (first) { first.focus(); }
      }
    }).catch(function () { /* the next event or the periodic refresh tries again */ });
  }

  function refresh(region, highlight) {
    return fetch(region.getAttribute("data-src"), {
      credentials: "same-origin",
      headers: { "Accept": "text/html" },
      cache: "no-store"
    }).then(function (response) {
      if (response.status === 401) { window.location.assign("/"); return null; }
      return response.ok ? response.text() : null;
    }).then(function (html) {
      if (html === null) { return; }
      // Keep keyboard focus where it was: swapped rows keep their ids.
      var focused = document.activeElement && document.activeElement.id;
      var before = {};
      region.querySelectorAll("tr[id]").forEach(function (row) { before[row.id] = true; });
      region.innerHTML = html;
      if (focused) {
        var again = document.getElementById(focused);
        if (again) { again.focus({ preventScroll: true }); }
      }
      if (highlight) {
        region.querySelectorAll("tr[id]").forEach(function (row) {
          if (!before[row.id]) { row.classList.add("fresh"); }
        });
      }
    }).catch(function () { /* the next event or the periodic refresh tries again */ });
  }

  var pending = null;
  function refreshQueueSoon() {
    if (pending) { return; }
    pending = window.setTimeout(function () { pending = null; refresh(queue, true); }, 50);
  }

  var source = new EventSource("/live/events");
  source.addEventListener("hello", function () {
    if (indicator) { indicator.hidden = false; indicator.classList.remove("paused"); indicator.textContent = "Live: new notices appear here as they arrive."; }
  });
  source.addEventListener("change", function (event) {
    var data = {};
    try { data = JSON.parse(event.data); } catch (e) { return; }
    if (queue) { refreshQueueSoon(); }
    if (alerts) { refreshAlerts(); }
    if (child && data.child === child.getAttribute("data-live-child")) { refresh(child, false); }
    if (queue && data.announce && status) { status.textContent = data.announce; }
  });
  source.addEventListener("signed-out", function () {
    source.close();
    window.location.assign("/signed-out");
  });
  source.onerror = function () {
    if (indicator) { indicator.classList.add("paused"); indicator.textContent = "Live updates paused; reconnecting."; }
  };
  // Deadlines move with the clock even when nothing arrives.
  if (queue) { window.setInterval(function () { refresh(queue, false); }, 60000); }
  // ...and the MASH opens and closes: the out-of-hours line and "overdue by" follow.
  if (alerts) { window.setInterval(refreshAlerts, 60000); }
})();
