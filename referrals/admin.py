# Referrals are worked on in the application, not in the admin: the admin has no access log
# and no transition rules, and client data must not be changed behind the services.
