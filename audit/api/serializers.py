from django.utils.translation import gettext_lazy as _
from rest_framework import serializers


class AuditUserSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    username = serializers.CharField(read_only=True)
    name = serializers.SerializerMethodField()

    def get_name(self, user) -> str:
        return user.get_full_name() or user.username


class AuditRecordSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    at = serializers.DateTimeField(read_only=True)
    user = AuditUserSerializer(source="actor", read_only=True, allow_null=True)
    action = serializers.CharField(read_only=True, help_text=_("e.g. view, list, search, download, api_view."))
    outcome = serializers.ChoiceField(choices=["ok", "denied"], read_only=True)
    referral = serializers.IntegerField(source="referral_id", read_only=True, allow_null=True,
                                        help_text=_("The case the record is about, if it exists."))
    target_type = serializers.CharField(read_only=True, help_text=_("Model label of the target, e.g. "
                                                                    "referrals.referral."))
    target_id = serializers.CharField(read_only=True)


class AuditErrorSerializer(serializers.Serializer):
    detail = serializers.CharField(read_only=True)
