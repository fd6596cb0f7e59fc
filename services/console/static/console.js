// Live updates for the MASH triage console: progressive enhancement only. Without this
// script every page works (reload to see new notices). With it, the server tells the page
// over Server-Sent Events that something in the signed-in person's feed changed; the page
// then re-fetches its own server-rendered fragment through the normal, access-checked
// routes. Events carry no names or content; a screen reader hears a short neutral line.
// The idle warning, on every signed-in page: the server puts how long the session has left
// on <body> (data-session-left-s, after this page load counted as activity) and how long
// before the end to warn (data-session-warn-s). Before warning, the page asks the server
// (GET /live/session, which is not activity) in case another tab kept the session alive.
// "Stay signed in" and typing in a form (at most once a minute) are activity: a POST to
// /session/keepalive with the CSRF token. When the time is up the page says so.
(function () {
  "use strict";
  var body = document.body;
  var dialog = document.getElementById("idle-warning");
  var leftAttr = body ? body.getAttribute("data-session-left-s") : null;
  if (leftAttr === null || !dialog || !window.fetch) { return; }
  var form = dialog.querySelector("form[data-keepalive-form]");
  var button = form.querySelector("button");
  var countdown = dialog.querySelector("[data-idle-countdown]");
  var csrf = form.querySelector("input[name='csrf_token']").value;
  var warnMs = (Number(body.getAttribute("data-session-warn-s")) || 120) * 1000;
  var firstLeftMs = Number(leftAttr) * 1000;
  // Typing sends a keep-alive at most this often: once a minute, more often only when the
  // idle limit itself is short (a test's).
  var typingEveryMs = Math.min(60000, Math.max(2000, (firstLeftMs - warnMs) / 2));
  var endsAt = Date.now() + firstLeftMs;
  var lastSent = Date.now(); // loading this page was activity
  var timer = null;
  var ticker = null;
  var returnFocus = null;

  function schedule(leftMs) {
    endsAt = Date.now() + leftMs;
    window.clearTimeout(timer);
    timer = window.setTimeout(check, Math.max(0, leftMs - warnMs));
  }
  function signedOut() {
    window.clearTimeout(timer);
    window.location.assign("/signed-out?reason=idle");
  }
  function check() {
    fetch("/live/session", {
      credentials: "same-origin",
      headers: { "Accept": "application/json" },
      cache: "no-store"
    }).then(function (response) {
      if (response.status === 401) { return { signed_in: false }; }
      return response.ok ? response.json() : null;
    }).then(function (state) {
      if (state === null) { timer = window.setTimeout(check, 10000); return; }
      if (!state.signed_in || state.seconds_left <= 0) { signedOut(); return; }
      var leftMs = state.seconds_left * 1000;
      if (leftMs > warnMs + 1000) { hideWarning(); schedule(leftMs); return; }
      endsAt = Date.now() + leftMs;
      showWarning();
      // Ask again soon (another tab may act), and once more just after the end.
      timer = window.setTimeout(check, Math.min(15000, leftMs + 500));
    }).catch(function () { timer = window.setTimeout(check, 10000); });
  }
  function tick() {
    var seconds = Math.max(0, Math.round((endsAt - Date.now()) / 1000));
    var minutes = Math.ceil(seconds / 60);
    countdown.textContent = seconds > 60
      ? minutes + " minutes"
      : seconds + (seconds === 1 ? " second" : " seconds");
  }
  function showWarning() {
    if (!dialog.hidden) { tick(); return; }
    returnFocus = document.activeElement;
    tick();
    dialog.hidden = false;
    ticker = window.setInterval(tick, 1000);
    button.focus();
  }
  function hideWarning() {
    if (dialog.hidden) { return; }
    var hadFocus = dialog.contains(document.activeElement);
    dialog.hidden = true;
    window.clearInterval(ticker);
    if (hadFocus && returnFocus && document.body.contains(returnFocus)) {
      returnFocus.focus({ preventScroll: true });
    }
  }
  function keepAlive() {
    lastSent = Date.now();
    return fetch("/session/keepalive", {
      method: "POST",
      credentials: "same-origin",
      headers: { "Accept": "application/json" },
      body: new URLSearchParams({ csrf_token: csrf })
    }).then(function (response) {
      if (response.status === 401) { signedOut(); return null; }
      return response.ok ? response.json() : null;
    }).then(function (state) {
      if (state && state.signed_in) {
        hideWarning();
        schedule(state.seconds_left * 1000);
      }
    }).catch(function () { /* the warning stays; the button can be pressed again */ });
  }
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    keepAlive();
  });
  document.addEventListener("input", function (event) {
    if (dialog.contains(event.target)) { return; }
    if (!dialog.hidden || Date.now() - lastSent >= typingEveryMs) { keepAlive(); }
  });
  schedule(firstLeftMs);
})();

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

  // A region's server-rendered fragment (its data-src), through the normal, access-checked
  // route: the HTML, or null when there is nothing to show; signed out: back to the start.
  function fetchFragment(region) {
    return fetch(region.getAttribute("data-src"), {
      credentials: "same-origin",
      headers: { "Accept": "text/html" },
      cache: "no-store"
    }).then(function (response) {
      if (response.status === 401) { window.location.assign("/"); return null; }
      return response.ok ? response.text() : null;
    });
  }

  // Immediate-danger alerts, on every page: replaced only when they change, so a screen
  // reader hears a new alert (role="alert") once, not on every refresh.
  function signature(root) {
    var ids = [];
    root.querySelectorAll("li[id^='alert-'], #out-of-hours").forEach(function (el) { ids.push(el.id); });
    return ids.join(" ");
  }
  function refreshAlerts() {
    return fetchFragment(alerts).then(function (html) {
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
    return fetchFragment(region).then(function (html) {
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

  // The queue never reflows under the person: when the rows it would show change (new
  // notices, decided ones gone, a new order), a bar says so and the list changes only when
  // they ask ("Show them"). Text within the same rows (deadlines moving) updates in place.
  // Immediate-danger alerts are not held back: they have their own region (above).
  var newItems = document.getElementById("new-items");
  var heldHtml = null;
  function rowIds(root) {
    var ids = [];
    root.querySelectorAll("tr[id^='row-']").forEach(function (row) { ids.push(row.id); });
    return ids;
  }
  function showBar(added) {
    var text = added > 0
      ? added + (added === 1 ? " new notice" : " new notices")
      : "This list has changed";
    var label = added > 0 ? "Show them" : "Show the latest";
    var shown = newItems.querySelector("[data-new-items-text]");
    if (shown && shown.textContent === text) { return; } // announced once, not on every check
    newItems.innerHTML = "";
    var bar = document.createElement("p");
    bar.className = "new-items-bar";
    var words = document.createElement("span");
    words.setAttribute("data-new-items-text", "");
    words.textContent = text;
    var show = document.createElement("button");
    show.type = "button";
    show.textContent = label;
    show.addEventListener("click", showHeld);
    bar.appendChild(words);
    bar.appendChild(document.createTextNode(" "));
    bar.appendChild(show);
    newItems.appendChild(bar);
  }
  function hideBar() { newItems.innerHTML = ""; }
  function showHeld() {
    if (heldHtml === null) { hideBar(); return; }
    var before = {};
    rowIds(queue).forEach(function (id) { before[id] = true; });
    queue.innerHTML = heldHtml;
    heldHtml = null;
    hideBar();
    var firstNew = null;
    queue.querySelectorAll("tr[id^='row-']").forEach(function (row) {
      if (!before[row.id]) {
        row.classList.add("fresh");
        if (!firstNew) { firstNew = row.querySelector("a.item-link"); }
      }
    });
    // The button is gone: keyboard focus goes to the first new notice, else to the list.
    if (firstNew) { firstNew.focus(); return; }
    queue.setAttribute("tabindex", "-1");
    queue.focus();
  }
  function refreshQueue() {
    return fetchFragment(queue).then(function (html) {
      if (html === null) { return; }
      var fresh = document.createElement("template");
      fresh.innerHTML = html;
      var now = rowIds(queue);
      var next = rowIds(fresh.content);
      if (!newItems || now.join(" ") === next.join(" ")) {
        heldHtml = null;
        if (newItems) { hideBar(); }
        var focused = document.activeElement && document.activeElement.id;
        queue.innerHTML = html;
        if (focused) {
          var again = document.getElementById(focused);
          if (again) { again.focus({ preventScroll: true }); }
        }
        return;
      }
      heldHtml = html;
      var seen = {};
      now.forEach(function (id) { seen[id] = true; });
      showBar(next.filter(function (id) { return !seen[id]; }).length);
    }).catch(function () { /* the next event or the periodic refresh tries again */ });
  }

  var pending = null;
  function refreshQueueSoon() {
    if (pending) { return; }
    pending = window.setTimeout(function () { pending = null; refreshQueue(); }, 50);
  }

  var source = new EventSource("/live/events");
  source.addEventListener("hello", function () {
    if (indicator) { indicator.hidden = false; indicator.classList.remove("paused"); indicator.textContent = "Live: new notices are announced above the list as they arrive."; }
  });
  source.addEventListener("change", function (event) {
    var data = {};
    try { data = JSON.parse(event.data); } catch (e) { return; }
    if (queue) { refreshQueueSoon(); }
    if (alerts) { refreshAlerts(); }
    if (child && data.child === child.getAttribute("data-live-child")) { refresh(child, false); }
    if (queue && data.announce && status) { status.textContent = data.announce; }
  });
  source.addEventListener("signed-out", function (event) {
    source.close();
    var ended = {};
    try { ended = JSON.parse(event.data); } catch (e) { ended = {}; }
    window.location.assign(ended.reason === "idle" ? "/signed-out?reason=idle" : "/signed-out");
  });
  source.onerror = function () {
    if (indicator) { indicator.classList.add("paused"); indicator.textContent = "Live updates paused; reconnecting."; }
  };
  // Deadlines move with the clock even when nothing arrives.
  if (queue) { window.setInterval(refreshQueue, 60000); }
  // ...and the MASH opens and closes: the out-of-hours line and "overdue by" follow.
  if (alerts) { window.setInterval(refreshAlerts, 60000); }
})();
