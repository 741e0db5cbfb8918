// Progressive enhancement only: every page works and reads without this script.
// The Lead / Contact field mappings become tabs (without the script both are shown), and
// each choice on the Destinations form is checked as it is made (without the script,
// Save checks everything).
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    var list = document.querySelector(".objtabs");
    if (!list) return;
    var tabs = Array.prototype.slice.call(list.querySelectorAll("[role=tab]"));
    function select(tab, focus) {
      tabs.forEach(function (t) {
        var on = t === tab;
        t.setAttribute("aria-selected", on ? "true" : "false");
        t.tabIndex = on ? 0 : -1;
        var panel = document.getElementById(t.getAttribute("aria-controls"));
        if (panel) panel.hidden = !on;
      });
      if (focus) tab.focus();
    }
    // A problem in the other object's panel opens that panel.
    var start = tabs.filter(function (t) {
      var panel = document.getElementById(t.getAttribute("aria-controls"));
      return panel && panel.querySelector(".has-error");
    })[0] || tabs[0];
    tabs.forEach(function (t) {
      t.addEventListener("click", function () { select(t, false); });
      t.addEventListener("keydown", function (e) {
        var i = tabs.indexOf(t);
        if (e.key === "ArrowRight") select(tabs[(i + 1) % tabs.length], true);
        if (e.key === "ArrowLeft") select(tabs[(i + tabs.length - 1) % tabs.length], true);
      });
    });
    list.hidden = false;
    select(start, false);
    document.querySelectorAll(".objpanel > legend").forEach(function (l) { l.className = "visually-hidden"; });
    // A summary link to a control in a hidden panel opens that panel first.
    document.querySelectorAll(".summary a[href^='#']").forEach(function (a) {
      a.addEventListener("click", function () {
        var target = document.getElementById(a.getAttribute("href").slice(1));
        var panel = target && target.closest(".objpanel");
        if (panel && panel.hidden) {
          tabs.forEach(function (t) { if (t.getAttribute("aria-controls") === panel.id) select(t, false); });
        }
      });
    });
  });
})();

// Destinations: on every change, the form goes to its own route with validate_only=true
// (the same check as Save, nothing saved); each problem is shown next to its control, in
// the message element the control's aria-describedby names (a polite live region).
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    var form = document.getElementById("destination-form");
    var save = form && form.querySelector("button[value=save]");
    if (!form || !save || save.disabled || !window.fetch) return;
    var other = document.getElementById("other-problems");
    var latest = 0;
    function show(problems) {
      form.querySelectorAll(".error[id$='-error']").forEach(function (box) {
        box.textContent = "";
        var control = document.getElementById(box.id.slice(0, -"-error".length));
        if (control) control.removeAttribute("aria-invalid");
        var field = box.closest(".field");
        if (field) field.classList.remove("has-error");
      });
      var rest = [];
      problems.forEach(function (p) {
        var text = p.message + ". Fix: " + p.fix;
        var box = document.getElementById(p.id + "-error");
        if (!box) { rest.push(text); return; }
        box.textContent = text;
        var control = document.getElementById(p.id);
        if (control && control.tagName !== "DIV") control.setAttribute("aria-invalid", "true");
        var field = box.closest(".field");
        if (field) field.classList.add("has-error");
      });
      if (other) other.textContent = rest.join(" ");
    }
    form.addEventListener("change", function () {
      var body = new URLSearchParams(new FormData(form));
      body.delete("action");
      body.set("validate_only", "true");
      var mine = ++latest;
      // getAttribute: `form.action` is the Save button here (named "action").
      fetch(form.getAttribute("action"), {
        method: "POST",
        body: body,
        credentials: "same-origin",
        headers: { "Accept": "application/json" }
      }).then(function (r) {
        return r.ok ? r.json() : null;
      }).then(function (answer) {
        // Only the answer to the latest change counts; a failed check leaves Save to judge.
        if (answer && mine === latest) show(answer.problems || []);
      }).catch(function () {});
    });
  });
})();
