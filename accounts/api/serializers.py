from django.utils.translation import gettext_lazy as _
from rest_framework import serializers


class StringField(serializers.CharField):
    """A JSON string and nothing else (no numbers or booleans turned into text)."""

    default_error_messages = {"invalid": _("Not a valid string.")}

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class TokenRequestSerializer(serializers.Serializer):
    username = StringField(min_length=1, max_length=150)
    password = StringField(min_length=1, max_length=128, style={"input_type": "password"}, trim_whitespace=False)
    otp = StringField(required=False, allow_blank=True, max_length=32,
                      help_text=_("The current code of the authenticator app (or a recovery code); required for "
                                  "users with a second factor."))


class TokenSerializer(serializers.Serializer):
    token = serializers.CharField(read_only=True, help_text=_("Send as `Authorization: Token <token>`. Shown once."))
    expiry = serializers.DateTimeField(read_only=True, help_text=_("The token stops working at this time."))


class DetailSerializer(serializers.Serializer):
    detail = serializers.CharField(read_only=True)
