"""Calendar invitations (.ics) for scheduled meetings, so they land in the users' Outlook calendars.

The file carries no client data: the reference, the kind of meeting, the time and a link. The place is
added only to the file downloaded from the case page (it is free text and may name the client's address);
the copy attached to e-mails leaves it out.
"""

from datetime import timedelta

from django.conf import settings
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from icalendar import Calendar, Event

MEETING_LENGTH = timedelta(hours=1)


def meeting_uid(meeting):
    return f"optima-meeting-{meeting.pk}@{getattr(settings, 'OUTBOX_MESSAGE_ID_DOMAIN', 'optima.local')}"


def meeting_ics(meeting, *, with_location=False):
    """The meeting as an iCalendar file (bytes). Same UID on every change, so calendars update the entry."""
    referral = meeting.referral
    link = settings.SITE_URL.rstrip("/") + reverse("referrals:detail", args=[referral.pk])
    calendar = Calendar()
    calendar.add("prodid", "-//OPTIMA Luzern//Referrals//DE")
    calendar.add("version", "2.0")
    calendar.add("method", "PUBLISH")
    event = Event()
    event.add("uid", meeting_uid(meeting))
    event.add("summary", _("OPTIMA %(ref)s: %(meeting)s") % {"ref": referral.reference,
                                                            "meeting": meeting.get_kind_display()})
    event.add("dtstart", meeting.scheduled_at)
    event.add("dtend", meeting.scheduled_at + MEETING_LENGTH)
    event.add("dtstamp", timezone.now())
    # Increases with every change of the meeting, so Outlook replaces the older entry.
    event.add("sequence", int(timezone.now().timestamp()) // 60)
    event.add("description", _("Open the referral: %(link)s") % {"link": link})
    event.add("url", link)
    if with_location and meeting.location:
        event.add("location", meeting.location)
    calendar.add_component(event)
    return calendar.to_ical()
