from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.shortcuts import render

from .selectors import institutions_for_directory

DIRECTORY_PAGE_SIZE = 30


@login_required
def directory(request):
    # Searched and paginated (issue 14): a national directory has hundreds of institutions.
    query = (request.GET.get("q") or "").strip()[:100]
    page = Paginator(institutions_for_directory(query=query), DIRECTORY_PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "institutions/directory.html", {"institutions": page.object_list, "page": page,
                                                           "query": query})
