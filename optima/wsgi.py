"""
WSGI config for optima project.

It exposes the WSGI callable as a module-level variable named ``application``.

For more information on this file, see
https://docs.djangoproject.com/en/5.2/howto/deployment/wsgi/
"""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'optima.settings')

application = get_wsgi_application()

# Refuse to serve with an OPTIMA_AHV_KEY that cannot decrypt the stored AHV numbers (issue 10).
from referrals.checks import refuse_to_start_on_wrong_ahv_key  # noqa: E402

refuse_to_start_on_wrong_ahv_key()
