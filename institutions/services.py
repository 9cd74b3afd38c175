"""Writes to the directory. The import command and the admin call these."""

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from .models import Membership, Role


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
