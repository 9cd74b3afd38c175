// Final or destructive actions ask first: <form data-confirm="What happens ...">.
document.addEventListener("submit", function (event) {
  var message = event.target.getAttribute("data-confirm");
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
});
