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
