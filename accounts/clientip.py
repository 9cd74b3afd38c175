from django.conf import settings


def client_ip(request):
    """The client's address for lockouts: with N trusted proxies the N-th X-Forwarded-For entry from the right.

    Entries further left were sent by the client itself and can be forged, so they are never used.
    """
    count = settings.PROXY_COUNT
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if count and forwarded:
        addresses = [part.strip() for part in forwarded.split(",") if part.strip()]
        if addresses:
            return addresses[-min(count, len(addresses))]
    return request.META.get("REMOTE_ADDR")
