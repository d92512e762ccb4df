// Lists that refresh themselves (front-desk arrivals, technologist list, reading worklist).
//
// An element with an id and data-refresh-seconds="N" (N > 0) is fetched again every N seconds from
// data-refresh-url (default: this page's own address, so the filters in it stay) and only that element's content is
// swapped for the one of the same id in the answer. Everything outside it (the filter form, the search box, what
// the user is typing there) is left alone; inside it, the focused control, open <details>, ticked checkboxes and the
// scroll position are put back. While the user is typing in a field inside the list, the swap waits for the next
// round. The request carries X-RIS-Background: 1, so it keeps no idle session alive (ris.security.
// SessionIdleMiddleware, static/js/session.js); it pauses while the tab is hidden and runs at once when it is shown.
(function () {
  "use strict";
  const HEADERS = { "X-RIS-Background": "1", "X-Requested-With": "fetch" };

  function withoutTokens(html) {
    return html.replace(/name="csrfmiddlewaretoken" value="[^"]*"/g, "");
  }

  function isTyping(element) {
    if (!element) return false;
    if (element.tagName === "TEXTAREA" || element.tagName === "SELECT" || element.isContentEditable) return true;
    return element.tagName === "INPUT" && !["button", "submit", "reset", "checkbox", "radio"].includes(element.type);
  }

  // Where the focused control is, as (id of its nearest element with an id inside the list, index among that
  // element's focusable controls), so the same control of the new content can take the focus.
  const FOCUSABLE = "a[href], button, input, select, textarea, summary, [tabindex]";
  function focusPlace(container) {
    const active = document.activeElement;
    if (!active || active === container || !container.contains(active)) return null;
    const owner = active.parentElement.closest("[id]");
    if (!owner || !container.contains(owner)) return null;
    return { owner: owner.id, index: Array.from(owner.querySelectorAll(FOCUSABLE)).indexOf(active) };
  }
  function restoreFocus(container, place) {
    if (!place) return;
    const owner = document.getElementById(place.owner);
    const target = owner && container.contains(owner) ? owner.querySelectorAll(FOCUSABLE)[place.index] : null;
    (target || container).focus({ preventScroll: true });
  }

  function stateOf(container) {
    return {
      open: Array.from(container.querySelectorAll("details[open][id]"), (d) => d.id),
      checked: Array.from(container.querySelectorAll("input[type=checkbox][name]"), (box) => [
        box.name + "=" + box.value,
        box.checked,
      ]),
    };
  }
  function restoreState(container, state) {
    state.open.forEach(function (id) {
      const details = document.getElementById(id);
      if (details && container.contains(details)) details.open = true;
    });
    const boxes = new Map(state.checked);
    container.querySelectorAll("input[type=checkbox][name]").forEach(function (box) {
      const key = box.name + "=" + box.value;
      if (boxes.has(key)) box.checked = boxes.get(key);
    });
  }

  // The first row (element with an id) still in view and how far from the top of the window it is: after the
  // swap the page scrolls so that row stays where it was, even if rows came or went above it.
  function anchorOf(container) {
    const rows = container.querySelectorAll("[id]");
    for (const row of rows) {
      const box = row.getBoundingClientRect();
      if (box.height && box.bottom > 0) return { id: row.id, top: box.top };
    }
    return null;
  }

  function swap(container, html) {
    const fresh = new DOMParser().parseFromString(html, "text/html").getElementById(container.id);
    if (!fresh || withoutTokens(fresh.innerHTML) === withoutTokens(container.innerHTML)) return;
    if (isTyping(document.activeElement) && container.contains(document.activeElement)) return;
    const place = focusPlace(container);
    const state = stateOf(container);
    const anchor = anchorOf(container);
    const scrollX = window.scrollX;
    const scrollY = window.scrollY;
    const innerScroll = container.scrollTop;
    container.replaceChildren(...Array.from(fresh.childNodes, (node) => document.importNode(node, true)));
    restoreState(container, state);
    container.scrollTop = innerScroll;
    const same = anchor && document.getElementById(anchor.id);
    if (same && container.contains(same)) {
      window.scrollTo(scrollX, window.scrollY + same.getBoundingClientRect().top - anchor.top);
    } else {
      window.scrollTo(scrollX, scrollY);
    }
    restoreFocus(container, place);
    container.dispatchEvent(new CustomEvent("ris:refreshed", { bubbles: true }));
  }

  function keepFresh(container) {
    const seconds = Number(container.dataset.refreshSeconds);
    if (!container.id || !(seconds > 0)) return;
    const url = container.dataset.refreshUrl || window.location.href;
    let timer = null;
    let inFlight = false;
    let stopped = false;

    function later() {
      window.clearTimeout(timer);
      if (!stopped && !document.hidden) timer = window.setTimeout(refresh, seconds * 1000);
    }
    function refresh() {
      if (stopped || inFlight || document.hidden) return;
      inFlight = true;
      window
        .fetch(url, { credentials: "same-origin", cache: "no-store", headers: HEADERS })
        .then(function (response) {
          // Signed out (the sign-in page answers) or refused: stop; the session script takes the page to sign-in.
          if (response.redirected || response.status === 401 || response.status === 403) stopped = true;
          return response.ok && !stopped ? response.text() : null;
        })
        .then(function (html) {
          if (html !== null) swap(container, html);
        })
        .catch(function () {
          /* the network or the server is down for a moment: try again next round */
        })
        .finally(function () {
          inFlight = false;
          later();
        });
    }
    document.addEventListener("visibilitychange", function () {
      if (document.hidden) {
        window.clearTimeout(timer);
      } else {
        refresh(); // back on the tab: show what changed meanwhile at once
      }
    });
    later();
  }

  document.querySelectorAll("[data-refresh-seconds]").forEach(keepFresh);
})();
