// Inactivity warning: the server ends a session after SESSION_COOKIE_AGE seconds without a request. Shortly before,
// a banner offers to stay signed in; at the end the page goes to the sign-in page instead of failing on the next
// click. Every same-origin request of any tab renews the session, so tabs share the time of the last one; a
// background request (header X-RIS-Background: 1, e.g. the editor's claim renewal) renews nothing, here or on the
// server (ris.security.SessionIdleMiddleware).
(function () {
  "use strict";
  const body = document.body;
  const total = Number(body.dataset.sessionSeconds);
  const warning = Number(body.dataset.sessionWarningSeconds);
  if (!total) return;
  const key = "ris.lastActivity";
  const banner = document.getElementById("session-warning");
  const remainingText = document.getElementById("session-remaining");
  const stay = document.getElementById("session-stay");

  function touched() {
    try { localStorage.setItem(key, String(Date.now())); } catch (e) { /* private mode: this tab only */ }
    lastLocal = Date.now();
  }
  let lastLocal = Date.now();
  function last() {
    let shared = 0;
    try { shared = Number(localStorage.getItem(key)) || 0; } catch (e) { shared = 0; }
    return Math.max(shared, lastLocal);
  }

  function isBackground(input, init) {
    const given = (init && init.headers) || (typeof input === "string" ? undefined : input.headers);
    return new Headers(given).get("X-RIS-Background") === "1";
  }

  const originalFetch = window.fetch.bind(window);
  window.fetch = function (input, init) {
    const url = new URL(typeof input === "string" ? input : input.url, window.location.href);
    const background = isBackground(input, init);
    return originalFetch(input, init).then(function (response) {
      if (url.origin === window.location.origin && !background) touched();
      return response;
    });
  };

  function tick() {
    const left = Math.ceil(total - (Date.now() - last()) / 1000);
    if (left <= 0) {
      const next = encodeURIComponent(window.location.pathname + window.location.search);
      window.location.assign(body.dataset.loginUrl + "?next=" + next + "&expired=1");
      return;
    }
    if (left <= warning) {
      const minutes = Math.floor(left / 60);
      const seconds = left % 60;
      remainingText.textContent = minutes ? minutes + " min " + seconds + " s" : seconds + " s";
      banner.hidden = false;
    } else {
      banner.hidden = true;
    }
  }

  stay.addEventListener("click", function () {
    window.fetch(body.dataset.keepAliveUrl, { credentials: "same-origin", headers: { "X-Requested-With": "fetch" } })
      .then(function (response) {
        if (response.status === 204) { banner.hidden = true; } else { tick(); }
      });
  });
  touched();
  tick();
  window.setInterval(tick, 1000);
})();
