# The audit trail is deliberately not in the Django admin: only the data-protection role reads it
# (audit/views.py, audit/api/), and nobody can change it.
