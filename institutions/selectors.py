"""Reads of the directory, scoped to what a user needs."""

from django.db import router
from django.db.models import Count, Prefetch, ProtectedError, Q, RestrictedError
from django.db.models.deletion import Collector

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


def contact_persons_by_institution(*institutions):
    """{institution id: [its active contact persons]} of active institutions, in one query (the case page)."""
    ids = [i.pk for i in institutions if i is not None]
    found = {pk: [] for pk in ids}
    for membership in (Membership.objects.filter(is_contact_person=True, user__is_active=True, institution__active=True,
                                                 institution_id__in=ids).select_related("user")):
        found[membership.institution_id].append(membership.user)
    return found


def users_with_role(role):
    """Active users holding `role` at any institution (e.g. the IIZ coordinators)."""
    field = Membership.ROLE_FIELDS[Role(role)]
    return User.objects.filter(is_active=True, **{f"memberships__{field}": True}).order_by("last_name").distinct()
# --- The directory page for administrators (issue 12) ---------------------------------------------------------

def user_administers_directory(user):
    return getattr(user, "is_authenticated", False) and user_has_role(user, Role.ADMIN)


def institutions_for_admin(query=""):
    """Every institution (active first) matching a name, e-mail, municipality name or BFS number."""
    institutions = Institution.objects.all()
    query = (query or "").strip()
    if query:
        match = Q(name__icontains=query) | Q(email__icontains=query) | Q(municipalities__name__icontains=query)
        if query.isdigit():
            match |= Q(municipalities__bfs_number=int(query))
        institutions = institutions.filter(match).distinct()
    people = Membership.objects.select_related("user").order_by("user__last_name", "user__first_name")
    return (institutions.annotate(municipality_count=Count("municipalities", distinct=True))
            .prefetch_related(Prefetch("memberships", queryset=people, to_attr="people"))
            .order_by("-active", "name"))


def institution_people(institution):
    return list(Membership.objects.filter(institution=institution).select_related("user")
                .order_by("user__last_name", "user__first_name"))


def institution_protected_count(institution):
    """How many rows elsewhere (e.g. referrals) keep this institution from being deleted.

    Asked generically through Django's deletion collector, so the directory needs to know nothing of the
    apps above it: whatever protects the row (on_delete=PROTECT or RESTRICT) counts.
    """
    collector = Collector(using=router.db_for_write(Institution))
    try:
        collector.collect([institution])
    except (ProtectedError, RestrictedError) as error:
        return len(getattr(error, "protected_objects", None) or getattr(error, "restricted_objects", ()))
    return 0


def institution_history(institution, limit=30):
    """The recorded changes of an institution and of its people's roles, newest first: who, when, what."""
    records = list(institution.history.select_related("history_user").order_by("-history_date")[:limit])
    records += list(Membership.history.filter(institution_id=institution.pk).select_related("history_user")
                    .order_by("-history_date")[:limit])
    records.sort(key=lambda r: r.history_date, reverse=True)
    return [_describe(record) for record in records[:limit]]


def _describe(record):
    changes = []
    previous = record.prev_record if record.history_type == "~" else None
    if previous is not None:
        try:
            delta = record.diff_against(previous)
        except Exception:  # noqa: BLE001 - an unreadable diff must not break the page
            delta = None
        if delta is not None:
            for change in delta.changes:
                try:
                    label = str(record.instance_type._meta.get_field(change.field).verbose_name)
                except Exception:  # noqa: BLE001
                    label = change.field
                changes.append(label)
    return {"record": record, "who": record.history_user, "when": record.history_date,
            "kind": record.history_type, "subject": str(record.instance) if record.history_type != "-" else "",
            "fields": changes}
