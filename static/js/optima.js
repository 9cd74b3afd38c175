// Final or destructive actions ask first: <form data-confirm="What happens ...">.
// A status meeting form asks only when its decision closes the case: <form data-confirm-close="...">.
document.addEventListener("submit", function (event) {
  var form = event.target;
  var message = form.getAttribute("data-confirm");
  if (!message && form.hasAttribute("data-confirm-close")) {
    var decision = form.querySelector("input[name=decision]:checked");
    if (decision && decision.value === "close") { message = form.getAttribute("data-confirm-close"); }
  }
  if (message && !window.confirm(message)) {
    event.preventDefault();
  }
});
// Show only the fields that belong to the chosen decision (status meeting: continue or close).
function optimaToggleDecision(form) {
  var checked = form.querySelector("input[name=decision]:checked");
  var value = checked ? checked.value : "";
  form.querySelectorAll("[data-when-decision]").forEach(function (el) {
    el.hidden = value !== "" && el.getAttribute("data-when-decision") !== value;
  });
}
document.addEventListener("change", function (event) {
  if (event.target.name === "decision" && event.target.form) { optimaToggleDecision(event.target.form); }
});
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("form[data-decision-form]").forEach(optimaToggleDecision);
  // After a failed submission, bring the error summary into view and give it focus (on every page, not
  // only the referral form), so keyboard and screen reader users hear what to fix.
  var summary = document.getElementById("error-summary");
  if (summary && (!document.activeElement || document.activeElement === document.body)) {
    summary.focus();
  }
});
// Several values in one text input with a <datalist> (municipalities on the directory page): the suggestions
// complete the last comma-separated value, keeping what is already typed before it.
document.addEventListener("input", function (event) {
  var input = event.target;
  if (!input.hasAttribute || !input.hasAttribute("data-multi-datalist")) { return; }
  var list = document.getElementById(input.getAttribute("list"));
  if (!list) { return; }
  if (!list.dataset.values) {
    list.dataset.values = JSON.stringify(Array.prototype.map.call(list.options, function (o) { return o.value; }));
  }
  var values = JSON.parse(list.dataset.values);
  var text = input.value;
  var cut = Math.max(text.lastIndexOf(","), text.lastIndexOf(";"));
  var head = cut >= 0 ? text.slice(0, cut + 1) + " " : "";
  var done = head.split(/[,;]/).map(function (v) { return v.trim(); });
  list.innerHTML = "";
  values.forEach(function (value) {
    if (done.indexOf(value) >= 0) { return; }
    var option = document.createElement("option");
    option.value = head + value;
    list.appendChild(option);
  });
});
// The live check of the referral form sends the receiver list that fits the answers (responsible institutions
// first, filtered by kind, the only one preselected). Take its options over, but keep a receiver the person
// chose meanwhile if it is still on the list.
document.addEventListener("htmx:afterSettle", function () {
  var box = document.getElementById("receiver-options");
  var source = box && box.querySelector("select");
  var target = document.getElementById("id_receiving_institution");
  if (!source || !target) { return; }
  var keep = target.value;
  target.innerHTML = source.innerHTML;
  if (keep && target.querySelector("option[value='" + keep.replace(/'/g, "") + "']")) { target.value = keep; }
  box.innerHTML = "";
});
