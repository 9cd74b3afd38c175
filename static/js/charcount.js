// Character counter for every text area with a maximum length (issue 10): "120 of 5000 characters".
// No inline script (a Content-Security-Policy without 'unsafe-inline' is coming): the translated wording
// comes from <meta name="optima-charcount" content="%(count)s of %(limit)s characters"> in base.html.
(function () {
  function template() {
    var meta = document.querySelector('meta[name="optima-charcount"]');
    return meta ? meta.getAttribute("content") : "%(count)s / %(limit)s";
  }
  function attach(area, wording) {
    var limit = parseInt(area.getAttribute("maxlength"), 10);
    if (!limit || area.dataset.charcount) { return; }
    area.dataset.charcount = "on";
    var counter = document.createElement("div");
    counter.className = "form-text char-count text-end";
    counter.id = (area.id || area.name) + "_count";
    area.insertAdjacentElement("afterend", counter);
    var described = area.getAttribute("aria-describedby");
    area.setAttribute("aria-describedby", described ? described + " " + counter.id : counter.id);
    function update() {
      var count = area.value.length;
      counter.textContent = wording.replace("%(count)s", count).replace("%(limit)s", limit);
      var near = count >= limit * 0.9;
      counter.classList.toggle("text-danger", near);
      counter.classList.toggle("fw-semibold", near);
      // Screen readers hear the counter only when the limit is close, not at every key.
      if (near) { counter.setAttribute("aria-live", "polite"); } else { counter.removeAttribute("aria-live"); }
    }
    area.addEventListener("input", update);
    update();
  }
  function attachAll(root) {
    var wording = template();
    (root || document).querySelectorAll("textarea[maxlength]").forEach(function (area) { attach(area, wording); });
  }
  document.addEventListener("DOMContentLoaded", function () { attachAll(document); });
  // Forms loaded later by htmx get their counters too.
  document.addEventListener("htmx:afterSwap", function (event) { attachAll(event.target); });
})();
