"""The product's languages, each named in its own language (header switch, user setting). Plain data:
imported by the settings and by institutions.models."""

PRODUCT_LANGUAGES = [("de-ch", "Deutsch"), ("fr-ch", "Français"), ("it-ch", "Italiano"), ("en", "English")]
# Complete translations that the i18n test enforces (English is the source language).
TRANSLATED_LOCALES = ["de_CH", "fr_CH", "it_CH"]
