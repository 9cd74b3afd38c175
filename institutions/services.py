"""Writes to the directory. The import command and the admin call these."""

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils.text import slugify
from django.utils.translation import gettext as _

from .models import Institution, Membership, Role, User
from .selectors import institution_protected_count, user_has_role


def membership_set_roles(*, user, institution, roles):
    """Give `user` exactly `roles` at `institution` and keep Django's staff flags in step.

    Administrators need the Django admin (is_staff) and every directory permission (is_superuser):
    they configure institutions, users and roles, which is the whole of what the admin offers.
    """
    roles = {Role(role) for role in roles}
    with transaction.atomic():
        membership, _ = Membership.objects.get_or_create(user=user, institution=institution)
        for role, field in Membership.ROLE_FIELDS.items():
            setattr(membership, field, role in roles)
        membership.save()
        user_sync_admin_flags(user=user)
    return membership


def user_sync_admin_flags(*, user):
    is_admin = Membership.objects.filter(user=user, is_admin=True).exists()
    if user.is_staff != is_admin or user.is_superuser != is_admin:
        user.is_staff = user.is_superuser = is_admin
        user.save(update_fields=["is_staff", "is_superuser"])


def user_set_language(*, user, actor, language):
    """Remember the language a user chose; pages and e-mails to them use it from now on."""
    if actor.pk != user.pk and not actor.is_superuser:
        raise PermissionDenied(_("You can only change your own language."))
    if language not in dict(settings.LANGUAGES):
        raise ValidationError({"language": [_("Choose one of the offered languages.")]})
    if user.language != language:
        user.language = language
        user.save(update_fields=["language"])
    return user


# --- The directory page for administrators (issue 12) ---------------------------------------------------------

def _require_admin(actor):
    if not user_has_role(actor, Role.ADMIN):
        raise PermissionDenied(_("Only administrators can change the directory."))


def _unique_key(name, exclude_pk=None):
    base = slugify(name)[:50] or "institution"
    key, n = base, 2
    while Institution.objects.filter(key=key).exclude(pk=exclude_pk).exists():
        key, n = f"{base}-{n}", n + 1
    return key


def _unique_username(email, first_name, last_name):
    base = (email.split("@")[0] if email else slugify(f"{first_name}.{last_name}")) or "user"
    base = base[:140]
    name, n = base, 2
    while User.objects.filter(username=name).exists():
        name, n = f"{base}{n}", n + 1
    return name


INSTITUTION_FIELDS = ("name", "kind", "address", "email", "phone", "integral_case_management", "topics")
PERSON_FIELDS = ("first_name", "last_name", "email", "phone", "language")


@transaction.atomic
def institution_save(*, actor, institution=None, data, municipalities, people):
    """Create or change an institution together with its people and their roles (the directory page).

    `data` holds INSTITUTION_FIELDS; `people` is a list of dicts with an optional `user` (an existing person),
    PERSON_FIELDS, `roles` and `remove`. Every change is recorded with the actor (django-simple-history).
    """
    _require_admin(actor)
    if institution is None:
        institution = Institution(key=_unique_key(data["name"]))
    else:
        institution = Institution.objects.select_for_update().get(pk=institution.pk)
    for name in INSTITUTION_FIELDS:
        setattr(institution, name, data.get(name) if data.get(name) is not None else "")
    if institution.kind != "social":
        institution.integral_case_management = False
    institution.topics = list(data.get("topics") or [])
    institution._history_user = actor
    institution.save()
    institution.municipalities.set(municipalities)
    for person in people:
        _person_save(actor=actor, institution=institution, person=person)
    return institution


def _person_save(*, actor, institution, person):
    user = person.get("user")
    if person.get("remove"):
        if user is not None:
            membership = Membership.objects.filter(user=user, institution=institution).first()
            if membership is not None:
                membership._history_user = actor
                membership.delete()
                user_sync_admin_flags(user=user)
        return
    if user is None:
        email = person.get("email") or ""
        user = User.objects.filter(email__iexact=email).first() if email else None
        if user is None:
            user = User(username=_unique_username(email, person.get("first_name", ""), person.get("last_name", "")))
            user.set_unusable_password()  # the person sets a password with "Forgot password" / by the admin
    changed = user.pk is None
    for name in PERSON_FIELDS:
        value = person.get(name) or ""
        if getattr(user, name) != value:
            setattr(user, name, value)
            changed = True
    if changed:
        user._history_user = actor
        user.save()
    membership = Membership.objects.filter(user=user, institution=institution).first() or \
        Membership(user=user, institution=institution)
    roles = {Role(role) for role in person.get("roles") or []}
    if membership.pk is None or set(membership.roles) != roles:
        for role, field in Membership.ROLE_FIELDS.items():
            setattr(membership, field, role in roles)
        membership._history_user = actor
        membership.save()
        user_sync_admin_flags(user=user)


@transaction.atomic
def institution_remove(*, actor, institution):
    """Delete an institution nobody refers to yet; deactivate it when rows elsewhere (referrals) need it.

    Returns "deleted" or "deactivated". A deactivated institution stays in the history and in its cases but
    is no longer offered as a receiver.
    """
    _require_admin(actor)
    institution = Institution.objects.select_for_update().get(pk=institution.pk)
    if institution_protected_count(institution):
        if institution.active:
            institution.active = False
            institution._history_user = actor
            institution.save(update_fields=["active"])
        return "deactivated"
    institution._history_user = actor
    institution.delete()
    return "deleted"


@transaction.atomic
def institution_reactivate(*, actor, institution):
    _require_admin(actor)
    institution = Institution.objects.select_for_update().get(pk=institution.pk)
    institution.active = True
    institution._history_user = actor
    institution.save(update_fields=["active"])
    return institution
