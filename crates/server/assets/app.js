// Progressive enhancement only: every page works and reads without this script.
// The Lead / Contact field mappings become tabs (without the script both are shown).
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
