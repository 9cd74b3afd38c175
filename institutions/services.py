"""Writes to the directory. The import command and the admin call these."""

from django.db import transaction

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
