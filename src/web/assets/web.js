// Inlet's page: progressive enhancement only. Every page works without this file.
// - copy buttons (navigator.clipboard, with a fallback);
// - filters submit on change (the "Apply filters" button is hidden);
// - "/" focuses the search box;
// - the status page refreshes its live part.
"use strict";
document.documentElement.classList.add("js");

function copyByCommand(text) {
  var area = document.createElement("textarea");
  area.value = text;
  area.setAttribute("readonly", "");
  area.className = "offscreen";
  document.body.appendChild(area);
  area.select();
  var ok = false;
  try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
  document.body.removeChild(area);
  return ok;
}

// The clipboard API where the page may use it, else the older copy command.
function copyText(text) {
  var viaCommand = function () {
    return copyByCommand(text) ? Promise.resolve() : Promise.reject(new Error("copy refused"));
  };
  if (navigator.clipboard && window.isSecureContext) {
    return navigator.clipboard.writeText(text).catch(viaCommand);
  }
  return viaCommand();
}

document.addEventListener("click", function (ev) {
  var button = ev.target.closest ? ev.target.closest("button[data-copy]") : null;
  if (!button) { return; }
  var code = document.getElementById(button.getAttribute("data-copy"));
  if (!code) { return; }
  copyText(code.textContent).then(function () {
    button.textContent = "Copied";
  }, function () {
    button.textContent = "Select and copy";
  });
  setTimeout(function () { button.textContent = "Copy"; }, 2500);
});

document.addEventListener("change", function (ev) {
  var form = ev.target.form;
  if (form && form.hasAttribute("data-autosubmit") && ev.target.closest("fieldset.facet")) {
    form.submit();
  }
});

document.addEventListener("keydown", function (ev) {
  if (ev.key !== "/" || ev.ctrlKey || ev.metaKey || ev.altKey) { return; }
  var t = ev.target;
  if (t && (t.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName))) { return; }
  var box = document.getElementById("q") || document.getElementById("top-q");
  if (box) { ev.preventDefault(); box.focus(); box.select(); }
});

// Snippet tabs: one language shown at a time; arrow keys move between tabs.
(function tabs() {
  var lists = document.querySelectorAll("[role=tablist]");
  Array.prototype.forEach.call(lists, function (list) {
    var tabs = Array.prototype.slice.call(list.querySelectorAll("[role=tab]"));
    function select(tab, focus) {
      tabs.forEach(function (t) {
        var on = t === tab;
        t.setAttribute("aria-selected", on ? "true" : "false");
        t.tabIndex = on ? 0 : -1;
        var panel = document.getElementById(t.getAttribute("data-tab"));
        if (panel) { panel.hidden = !on; }
      });
      if (focus) { tab.focus(); }
    }
    tabs.forEach(function (tab, i) {
      tab.addEventListener("click", function () { select(tab, false); });
      tab.addEventListener("keydown", function (ev) {
        var next = ev.key === "ArrowRight" ? 1 : ev.key === "ArrowLeft" ? -1 : 0;
        if (next) { ev.preventDefault(); select(tabs[(i + next + tabs.length) % tabs.length], true); }
      });
    });
    if (tabs.length) { select(tabs[0], false); }
  });
})();

(function live() {
  var el = document.querySelector("[data-live]");
  if (!el) { return; }
  var url = el.getAttribute("data-live");
  var every = parseInt(el.getAttribute("data-interval"), 10) || 2000;
  function refresh() {
    fetch(url, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
      .then(function (html) {
        var doc = new DOMParser().parseFromString("<div>" + html + "</div>", "text/html");
        var fresh = doc.body.firstElementChild;
        if (fresh) { el.replaceChildren.apply(el, Array.prototype.slice.call(fresh.childNodes)); }
        el.setAttribute("data-refreshed", String(Date.now()));
      })
      .catch(function () { /* keep the last view; the next tick retries */ })
      .then(function () { setTimeout(refresh, every); });
  }
  setTimeout(refresh, every);
})();
