from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from .selectors import institutions_for_directory


@login_required
def directory(request):
    return render(request, "institutions/directory.html", {"institutions": institutions_for_directory()})
