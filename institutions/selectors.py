"""Reads of the directory, scoped to what a user needs."""

from django.db.models import Prefetch, Q

from .models import Institution, Membership, Role, User


def user_memberships(user):
    """The user's memberships with their institutions, cached on the user object for the request."""
    if not getattr(user, "is_authenticated", False):
        return []
    cached = getattr(user, "_optima_memberships", None)
    if cached is None:
        cached = list(Membership.objects.select_related("institution").filter(user=user))
        user._optima_memberships = cached
    return cached


def user_institution_ids(user):
    return {m.institution_id for m in user_memberships(user)}


def user_primary_membership(user):
    memberships = user_memberships(user)
    return memberships[0] if memberships else None


def user_has_role(user, role, institution=None):
    """True when the user holds `role` (at `institution` if given). Superusers are administrators."""
    if role == Role.ADMIN and getattr(user, "is_superuser", False):
        return True
    field = Membership.ROLE_FIELDS[Role(role)]
    return any(
        getattr(m, field) and (institution is None or m.institution_id == institution.pk)
        for m in user_memberships(user)
    )


def user_roles(user):
    roles = set()
    for membership in user_memberships(user):
        roles.update(membership.roles)
    if getattr(user, "is_superuser", False):
        roles.add(Role.ADMIN)
    return [role for role in Role.values if role in roles]


def user_sees_everything(user):
    """Coordinator and administrators see every referral (DOMAIN.md, data protection)."""
    return user_has_role(user, Role.COORDINATOR) or user_has_role(user, Role.ADMIN)


def institution_members_with_role(institution, role):
    field = Membership.ROLE_FIELDS[Role(role)]
    return (
        User.objects.filter(is_active=True, memberships__institution=institution, **{f"memberships__{field}": True})
        .order_by("last_name", "first_name")
        .distinct()
    )


def institutions_for_directory(query=""):
    """Active institutions with their municipalities and contact persons, in a fixed number of queries.

    ``query`` finds institutions by name or by a municipality they serve."""
    contact_people = Membership.objects.filter(is_contact_person=True, user__is_active=True).select_related("user")
    institutions = Institution.objects.filter(active=True)
    if query:
        served = Institution.municipalities.through.objects.filter(municipality__name__icontains=query)
        institutions = institutions.filter(Q(name__icontains=query) | Q(pk__in=served.values("institution_id")))
    return institutions.order_by("name", "pk").prefetch_related(
        "municipalities", Prefetch("memberships", queryset=contact_people, to_attr="contact_memberships")
    )
