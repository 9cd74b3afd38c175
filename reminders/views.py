"""The user's own reminder settings (single mails or one daily digest)."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from . import forms, selectors, services


@login_required
def preferences(request):
    if request.method == "POST":
        form = forms.PreferenceForm(request.POST)
        if form.is_valid():
            services.reminder_preference_set(user=request.user, actor=request.user,
                                              daily_digest=form.cleaned_data["daily_digest"])
            messages.success(request, _("Your reminder settings are saved."))
            return redirect("reminders:preferences")
    else:
        form = forms.PreferenceForm(initial={"daily_digest": selectors.wants_digest(request.user)})
    return render(request, "reminders/preferences.html", {
        "form": form, "config": selectors.reminder_settings()})
