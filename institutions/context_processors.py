from optima.languages import PRODUCT_LANGUAGES

from .selectors import user_primary_membership, user_roles


def membership(request):
    """The header shows who is logged in, for which institution, in which roles."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"product_languages": PRODUCT_LANGUAGES}
    from .models import Role

    return {
        "current_membership": user_primary_membership(user),
        "current_roles": [Role(r) for r in user_roles(user)],
        "product_languages": PRODUCT_LANGUAGES,  # the switch names each language in itself
    }
