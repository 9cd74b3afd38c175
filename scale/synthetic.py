"""A synthetic, domain-consistent history of referrals for measuring the product at national scale.

Each referral gets a full lifecycle drawn from plausible proportions (draft, submission, questions, decision,
handover meeting, status meetings, cost approvals, documents, closing) over the last ``years`` years; every
moment after *now* is cut off, so recent referrals stay open in whichever status they reached. The events look
exactly like the ones ``referrals.services`` writes (same kinds, codes and payload keys), so the KPIs, the
timeline and ``next_step`` read them as real ones.

This module writes rows in bulk and on purpose bypasses the services (a bulk loader, like a fixture): it never
runs on the production path (the command refuses when DJANGO_DEBUG is off). On PostgreSQL the rows go in with
COPY (psycopg 3), elsewhere with ``executemany``. Ids are assigned here and the sequences reset afterwards.
The KPI rollup is rebuilt at the end (``reporting.rollup.rebuild``).
"""

import contextlib
import datetime
import itertools
import json
import operator
import random
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from functools import cached_property

from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management.color import no_style
from django.db import DatabaseError, connection, transaction
from django.db.models import JSONField, Max
from django.utils import timezone

from institutions.models import Institution, InstitutionKind, Membership, Municipality, ProblemArea, User
from referrals.models import (
    Client,
    ClosureGround,
    ClosureOutcome,
    Comment,
    ConsentForm,
    CostApproval,
    CostApprovalStatus,
    Document,
    DocumentKind,
    EventKind,
    Meeting,
    MeetingDecision,
    MeetingKind,
    Referral,
    ReferralEvent,
    RejectionReason,
    Status,
)
from referrals.rules import Situation, derive_process, derive_target_group

IV, RAV, SOCIAL = InstitutionKind.IV, InstitutionKind.RAV, InstitutionKind.SOCIAL

# Receiver kind by referrer kind, weighted like the pilot (IV->RAV 1; RAV->IV 8, RAV->social 4;
# social->IV 13, social->RAV 16, social->social 10) with a few IV->social added.
FLOW_WEIGHTS = {IV: ((RAV, 3), (SOCIAL, 2)), RAV: ((IV, 8), (SOCIAL, 4)), SOCIAL: ((IV, 13), (RAV, 16), (SOCIAL, 10))}
REFERRER_WEIGHTS = {IV: 1, RAV: 12, SOCIAL: 39}
REJECTION_WEIGHTS = ((RejectionReason.IV_REJECTION_RECENT, 3), (RejectionReason.NO_INTACT_WORK_OFFER, 2),
                     (RejectionReason.NO_CAPACITY, 1), (RejectionReason.GOAL_NOT_FEASIBLE, 1),
                     (RejectionReason.OTHER, 5))
OUTCOME_WEIGHTS = ((ClosureOutcome.SUCCESSFUL, 13), (ClosureOutcome.PARTIAL, 7), (ClosureOutcome.NOT_ACHIEVED, 12),
                   (ClosureOutcome.OTHER, 3))
GROUND_BY_OUTCOME = {ClosureOutcome.SUCCESSFUL: ClosureGround.GOAL_REACHED,
                     ClosureOutcome.PARTIAL: ClosureGround.GOAL_REACHED,
                     ClosureOutcome.NOT_ACHIEVED: ClosureGround.GOAL_UNREACHABLE,
                     ClosureOutcome.OTHER: ClosureGround.OTHER}
FIRST_NAMES = ("Anna", "Beat", "Claudia", "Daniel", "Erika", "Fabian", "Gabriela", "Hans", "Irene", "Jonas",
               "Karin", "Lukas", "Monika", "Nico", "Olivia", "Peter", "Rita", "Stefan", "Tanja", "Urs")
LAST_NAMES = ("Ammann", "Bucher", "Christen", "Duss", "Egli", "Felder", "Gisler", "Huber", "Imhof", "Jost",
              "Kaufmann", "Lustenberger", "Meier", "Nietlispach", "Odermatt", "Portmann", "Roos", "Schmid",
              "Troxler", "Wicki")
COMMENTS = ("Können Sie bitte den aktuellen Arztbericht nachreichen?", "Der Arztbericht ist hochgeladen.",
            "Wie ist der Stand der Abklärung?", "Termin für das Übergabegespräch folgt.")
MANDATE = "Stabilisierung und schrittweiser Wiedereinstieg in den ersten Arbeitsmarkt."
PLACEHOLDER_DOCUMENT = "documents/synthetic/placeholder.pdf"
BATCH = 2000  # referrals per transaction
BULK_MODELS = [Client, Referral, Meeting, CostApproval, Comment, Document, ReferralEvent]  # parents first


class People:
    """The actors of one institution: case workers, contact persons, signatories (user ids)."""

    def __init__(self, institution):
        self.institution = institution
        self.case_workers, self.contacts, self.signatories = [], [], []


def _kind_of(value):
    return InstitutionKind(value)


def _make_user(username, institution, password, **roles):
    first, last = random.choice(FIRST_NAMES), random.choice(LAST_NAMES)
    user = User.objects.create(username=username, password=password, first_name=first, last_name=last,
                               email=f"{username}@example.ch")
    Membership.objects.create(user=user, institution=institution, is_case_worker=roles.get("case_worker", False),
                              is_contact_person=roles.get("contact", False), is_signatory=roles.get("signatory", False))
    return user


def _directory(rng, extra_institutions, seed):
    """The institutions to refer between, each with people; creates extra ones (and missing people) on request."""
    password = make_password(None)  # unusable: synthetic people cannot log in
    municipalities = list(Municipality.objects.values_list("pk", flat=True)[:200])
    kinds = [(RAV, 25), (IV, 10), (SOCIAL, 65)]
    for n in range(extra_institutions):
        kind = rng.choices([k for k, _w in kinds], [w for _k, w in kinds])[0]
        key = f"syn-{seed}-{n + 1}"
        name = {RAV: "RAV", IV: "IV-Stelle", SOCIAL: "Sozialdienst"}[kind] + f" Synthetisch {seed}-{n + 1}"
        institution, created = Institution.objects.get_or_create(
            key=key, defaults={"name": name, "kind": kind, "email": f"{key}@example.ch",
                               "integral_case_management": kind == SOCIAL,
                               "topics": list(ProblemArea.values) if kind == SOCIAL else []})
        if created and municipalities:
            institution.municipalities.add(rng.choice(municipalities))
        if created:
            for i in range(3):
                _make_user(f"{key}.cw{i + 1}", institution, password, case_worker=True, contact=(i == 0))
            _make_user(f"{key}.sign", institution, password, signatory=True)
    people = {}
    for institution in Institution.objects.filter(active=True).order_by("pk"):
        people[institution.pk] = People(institution)
    for m in Membership.objects.filter(institution__in=list(people), user__is_active=True).order_by("pk"):
        p = people[m.institution_id]
        if m.is_case_worker:
            p.case_workers.append(m.user_id)
        if m.is_contact_person:
            p.contacts.append(m.user_id)
        if m.is_signatory:
            p.signatories.append(m.user_id)
    for p in people.values():
        # An institution needs someone to file, decide and sign: add synthetic people where missing.
        if not p.case_workers or not p.contacts:
            user = _make_user(f"syn-{seed}-{p.institution.key}.cw"[:150], p.institution, password,
                              case_worker=True, contact=True)
            p.case_workers.append(user.pk)
            p.contacts.append(user.pk)
        if not p.signatories:
            p.signatories.append(p.contacts[0])
    return list(people.values()), municipalities


class _Ids:
    """Next free primary keys, assigned here so related rows can point at each other before insertion."""

    def __init__(self, *models):
        self.next = {m: (m.objects.aggregate(n=Max("pk"))["n"] or 0) + 1 for m in models}

    def __call__(self, model):
        value = self.next[model]
        self.next[model] = value + 1
        return value


class _Writer:
    """Collects rows per model and writes them with COPY (PostgreSQL) or executemany (others)."""

    def __init__(self, models):
        self.models = models
        self.columns = {m: [f.column for f in m._meta.concrete_fields] for m in models}
        self.fields = {m: list(m._meta.concrete_fields) for m in models}
        self.defaults = {m: [(f, f.attname, _default(f)) for f in m._meta.concrete_fields] for m in models}
        # COPY rows are built in C where possible (half the Python time went into formatting them): a row is
        # the model's defaults updated with the given values, read in column order by one itemgetter; JSON
        # fields are encoded here (their defaults once), so their values must be dicts or lists, never str.
        self.copy_base = {m: {f.attname: _copy_default(f) for f in m._meta.concrete_fields} for m in models}
        self.copy_getter = {m: operator.itemgetter(*(f.attname for f in m._meta.concrete_fields)) for m in models}
        self.json_positions = {m: [i for i, f in enumerate(m._meta.concrete_fields) if isinstance(f, JSONField)]
                               for m in models}
        self.rows = {m: [] for m in models}
        self.counts = dict.fromkeys(models, 0)

    def add(self, model, **values):
        self.rows[model].append(values)

    def flush(self):
        """Write the collected rows in one transaction. On PostgreSQL outside a transaction (the command), a
        background thread with its own connection writes while the next batch is generated: PostgreSQL parses
        and indexes one batch while Python draws the next (issue 14: 1 M referrals in under 15 minutes)."""
        batch, self.rows = self.rows, {m: [] for m in self.models}
        if connection.vendor != "postgresql" or connection.in_atomic_block:
            self._write(batch)
            return
        self.wait()  # at most one batch in flight: memory stays flat
        self._pending = self._executor.submit(self._write_in_thread, batch)

    def wait(self):
        pending, self._pending = getattr(self, "_pending", None), None
        if pending is not None:
            pending.result()  # re-raises what went wrong in the thread

    @cached_property
    def _executor(self):
        return ThreadPoolExecutor(max_workers=1, thread_name_prefix="synthetic-copy")

    def _write_in_thread(self, batch):
        try:
            self._write(batch)
        finally:
            connection.close()

    def _write(self, batch):
        with transaction.atomic(), connection.cursor() as cursor:
            for model in self.models:  # parents before children
                rows = batch[model]
                if not rows:
                    continue
                fields, defaults = self.fields[model], self.defaults[model]
                table = connection.ops.quote_name(model._meta.db_table)
                columns = ", ".join(connection.ops.quote_name(c) for c in self.columns[model])
                if connection.vendor == "postgresql":
                    base, getter, json_positions = self.copy_base[model], self.copy_getter[model], \
                        self.json_positions[model]
                    with cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                        for row in rows:
                            values = getter({**base, **row})
                            if json_positions:
                                values = _encode_json(values, json_positions)
                            copy.write_row(values)
                else:
                    values = [[f.get_db_prep_save(row.get(name, default), connection) for f, name, default in defaults]
                              for row in rows]
                    marks = ", ".join(["%s"] * len(fields))
                    cursor.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks})", values)
                self.counts[model] += len(rows)


def _default(field):
    if field.has_default():
        return field.get_default()
    return None if field.null else ""


def _copy_default(field):
    value = _default(field)
    return json.dumps(value) if isinstance(field, JSONField) else value


def _encode_json(values, positions):
    values = list(values)
    for i in positions:
        if not isinstance(values[i], str):  # a default is already encoded
            values[i] = json.dumps(values[i])
    return values


def _at(moment):
    return moment.replace(microsecond=0)


def generate(*, referrals, seed=0, institutions=0, years=10, now=None, log=None):
    """Add `referrals` synthetic referrals (and `institutions` new institutions). Returns counts per model."""
    rng = random.Random(seed)
    now = now or timezone.now()
    zurich = timezone.get_current_timezone()
    with transaction.atomic():
        people, municipalities = _directory(rng, institutions, seed)
    by_kind = {kind: [p for p in people if p.institution.kind == kind] for kind in (IV, RAV, SOCIAL)}
    # OPTIMA-SH only goes to social services offering integral case management.
    receivers = {IV: by_kind[IV], RAV: by_kind[RAV],
                 SOCIAL: [p for p in by_kind[SOCIAL] if p.institution.integral_case_management]}
    referrer_pool = [(p, REFERRER_WEIGHTS[p.institution.kind]) for p in people]
    if len(people) < 2 or not any(receivers.values()):
        raise ValueError("At least two institutions are needed; use --institutions.")
    pool = [p for p, _w in referrer_pool]
    cumulative = list(itertools.accumulate(w for _p, w in referrer_pool))

    models = BULK_MODELS
    ids = _Ids(*models)
    writer = _Writer(models)
    span = datetime.timedelta(days=365.25 * years).total_seconds()
    start = now - datetime.timedelta(seconds=span)
    documents_dir_ready = False

    def day(seconds):
        return datetime.timedelta(seconds=seconds)

    candidates_of = {}

    for index in range(referrals):
        # Referrer and receiver (a receiver of a kind the referrer's kind sends to, never itself).
        while True:
            sender = rng.choices(pool, cum_weights=cumulative)[0]
            options = FLOW_WEIGHTS[sender.institution.kind]
            target_kind = rng.choices([k for k, _w in options], [w for _k, w in options])[0]
            key = (sender.institution.pk, target_kind)
            if key not in candidates_of:
                candidates_of[key] = [p for p in receivers[target_kind] if p.institution.pk != sender.institution.pk]
            candidates = candidates_of[key]
            if candidates:
                receiver = rng.choice(candidates)
                break
        s_kind, r_kind = sender.institution.kind, receiver.institution.kind
        situation = Situation(
            in_social_counselling=s_kind == SOCIAL or rng.random() < 0.2,
            economic_social_assistance=s_kind == SOCIAL and rng.random() < 0.7,
            registered_at_rav=s_kind == RAV or rng.random() < 0.15,
            receives_unemployment_benefits=s_kind == RAV and rng.random() < 0.6,
            in_iv_integration=s_kind == IV and rng.random() < 0.5,
            iv_procedure_running=s_kind == IV and rng.random() < 0.3,
        )
        group = derive_target_group(s_kind, r_kind, situation) or ""
        process = derive_process(r_kind)
        created = start + day(rng.random() * span)
        referrer_worker = rng.choice(sender.case_workers)
        client_id, referral_id = ids(Client), ids(Referral)
        planned = rng.choice((3, 6, 6, 12))
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        writer.add(Client, id=client_id, first_name=first, last_name=last,
                   date_of_birth=datetime.date(1960 + rng.randrange(45), 1 + rng.randrange(12), 1 + rng.randrange(28)),
                   municipality_id=rng.choice(municipalities) if municipalities else None,
                   address=f"Musterstrasse {1 + rng.randrange(99)}", created_at=_at(created))

        events = []  # (moment, kind, fields) in time order

        def event(moment, kind, actor, _events=events, **fields):
            _events.append((moment, kind, actor, fields))

        meetings, approvals, comments, documents = [], [], [], []
        event(created, EventKind.STATUS, referrer_worker, to_status=Status.DRAFT)
        if rng.random() < 0.5:
            event(created + day(rng.uniform(600, 86400)), EventKind.EDITED, referrer_worker)
        fate = rng.random()
        t = created + day(rng.uniform(3600, 3 * 86400))
        assigned = None
        outcome = ground = rejection = ""
        if fate < 0.02:
            pass  # stays a draft
        elif fate < 0.04:
            event(t, EventKind.STATUS, referrer_worker, from_status=Status.DRAFT, to_status=Status.WITHDRAWN)
        else:
            event(t, EventKind.STATUS, referrer_worker, from_status=Status.DRAFT, to_status=Status.SUBMITTED,
                  payload={"warnings": [], "process": process, "target_group": group})
            contact = rng.choice(receiver.contacts)
            for _n in range(rng.choice((0, 0, 1, 2))):
                t = t + day(rng.uniform(3600, 4 * 86400))
                author = rng.choice((contact, referrer_worker))
                comment_id = ids(Comment)
                comments.append((comment_id, t, author, rng.choice(COMMENTS)))
                event(t, EventKind.COMMENT, author, text=comments[-1][3], payload={"comment": comment_id})
            t = t + day(rng.uniform(86400, 30 * 86400))
            if fate < 0.07:
                event(t, EventKind.STATUS, referrer_worker, from_status=Status.SUBMITTED, to_status=Status.WITHDRAWN,
                      text="Klient ist weggezogen.")
            elif fate < 0.28:
                rejection = rng.choices([r for r, _w in REJECTION_WEIGHTS], [w for _r, w in REJECTION_WEIGHTS])[0]
                text = "Auftrag zu unbestimmt." if rejection == RejectionReason.OTHER else ""
                event(t, EventKind.STATUS, contact, from_status=Status.SUBMITTED, to_status=Status.REJECTED,
                      reason=rejection, text=text)
            else:
                assigned = rng.choice(receiver.case_workers)
                event(t, EventKind.STATUS, contact, from_status=Status.SUBMITTED, to_status=Status.ACCEPTED,
                      payload={"case_worker": assigned})
                scheduled = t + day(rng.uniform(86400, 5 * 86400))
                meeting_at = scheduled + day(rng.uniform(4 * 86400, 25 * 86400))
                handover_id = ids(Meeting)
                event(scheduled, EventKind.MEETING_SCHEDULED, referrer_worker, reason=MeetingKind.HANDOVER,
                      payload={"meeting": handover_id, "scheduled_at": meeting_at.isoformat()})
                agreed = rng.random() < 0.92
                held_on = timezone.localtime(meeting_at, zurich).date()
                recorded = meeting_at + day(rng.uniform(3600, 3 * 86400))
                first_status = held_on + datetime.timedelta(days=90)
                meetings.append(dict(id=handover_id, kind=MeetingKind.HANDOVER, scheduled_at=_at(meeting_at),
                                     location="Beratungszimmer 2", scheduled_by_id=referrer_worker,
                                     held_on=held_on, recorded_by_id=assigned, recorded_at=_at(recorded),
                                     case_work_starts_on=held_on if agreed else None,
                                     strategy="Coaching und Bewerbungstraining" if agreed else "",
                                     first_status_meeting_on=first_status if agreed else None,
                                     client_able_and_willing=True, all_agreed=agreed, _at=recorded,
                                     _planned=scheduled))
                event(recorded, EventKind.MEETING_RECORDED, assigned, reason=MeetingKind.HANDOVER,
                      payload={"meeting": handover_id})
                if not agreed:
                    event(recorded, EventKind.STATUS, assigned, from_status=Status.ACCEPTED,
                          to_status=Status.NOT_STARTED, payload={"meeting": handover_id})
                else:
                    event(recorded, EventKind.STATUS, assigned, from_status=Status.ACCEPTED, to_status=Status.ACTIVE,
                          payload={"meeting": handover_id})
                    if rng.random() < 0.3:
                        document_id = ids(Document)
                        documents.append((document_id, recorded, assigned))
                        event(recorded, EventKind.DOCUMENT, assigned, text="Übergabeprotokoll.pdf",
                              payload={"document": document_id, "kind": DocumentKind.MEETING_NOTE})
                    if rng.random() < 0.15:
                        approval_id = ids(CostApproval)
                        requested = recorded + day(rng.uniform(86400, 20 * 86400))
                        amount = Decimal(rng.choice((800, 1200, 1800, 2400, 3500))).quantize(Decimal("0.01"))
                        decided = requested + day(rng.uniform(3600, 10 * 86400))
                        approved = rng.random() < 0.85
                        signer = rng.choice(sender.signatories)
                        approvals.append((approval_id, requested, decided, approved, amount, signer))
                        event(requested, EventKind.COST_APPROVAL, assigned, to_status=CostApprovalStatus.REQUESTED,
                              cost_approval_id=approval_id,
                              payload={"amount_chf": str(amount), "measure": "Arbeitstraining"})
                        state = CostApprovalStatus.APPROVED if approved else CostApprovalStatus.REFUSED
                        event(decided, EventKind.COST_APPROVAL, signer, from_status=CostApprovalStatus.REQUESTED,
                              to_status=state, text="" if approved else "Budget ausgeschöpft.",
                              cost_approval_id=approval_id, payload={"amount_chf": str(amount)})
                    months = max(1.0, rng.gauss(planned, planned / 3))
                    end = recorded + day(months * 30.4 * 86400)
                    on_date = first_status
                    while True:
                        meeting_at = timezone.make_aware(datetime.datetime.combine(on_date, datetime.time(9, 0)))
                        meeting_id, planned_at = ids(Meeting), recorded
                        event(recorded, EventKind.MEETING_SCHEDULED, assigned, reason=MeetingKind.STATUS,
                              payload={"meeting": meeting_id, "scheduled_at": meeting_at.isoformat()})
                        closing = meeting_at >= end
                        recorded = meeting_at + day(rng.uniform(3600, 2 * 86400))
                        next_on = None if closing else on_date + datetime.timedelta(days=90)
                        meetings.append(dict(id=meeting_id, kind=MeetingKind.STATUS, scheduled_at=_at(meeting_at),
                                             scheduled_by_id=assigned, held_on=on_date, recorded_by_id=assigned,
                                             recorded_at=_at(recorded), progress="Fortschritte bei der Stellensuche.",
                                             decision=MeetingDecision.CLOSE if closing else MeetingDecision.CONTINUE,
                                             next_meeting_on=next_on, _at=recorded,
                                             _planned=planned_at))
                        event(recorded, EventKind.MEETING_RECORDED, assigned, reason=MeetingKind.STATUS,
                              payload={"meeting": meeting_id, "decision": "close" if closing else "continue"})
                        if closing:
                            outcome = rng.choices([o for o, _w in OUTCOME_WEIGHTS],
                                                  [w for _o, w in OUTCOME_WEIGHTS])[0]
                            ground = GROUND_BY_OUTCOME[outcome]
                            event(recorded, EventKind.STATUS, assigned, from_status=Status.ACTIVE,
                                  to_status=Status.CLOSED, reason=outcome,
                                  text="Festanstellung gefunden." if outcome == ClosureOutcome.SUCCESSFUL else "",
                                  payload={"ground": ground, "meeting": meeting_id})
                            break
                        on_date = next_on

        # Cut the history at now: what has not happened yet is not there.
        events = sorted((e for e in events if e[0] <= now), key=lambda e: e[0])
        status, changed = Status.DRAFT, created
        for moment, kind, _actor, fields in events:
            if kind == EventKind.STATUS:
                status, changed = fields["to_status"], moment
        reached = {fields["to_status"] for _m, kind, _a, fields in events if kind == EventKind.STATUS}
        local_created = timezone.localtime(created, zurich)
        # The case's span, as the services write it: the agreed handover meeting to the closing meeting (if held).
        held = [m for m in meetings if m["_at"] <= now]
        active_from = next((m["held_on"] for m in held if m["kind"] == MeetingKind.HANDOVER and m["all_agreed"]), None)
        active_until = next((m["held_on"] for m in held if m.get("decision") == MeetingDecision.CLOSE), None)
        writer.add(
            Referral, id=referral_id, reference=f"OPT-{local_created.year}-{referral_id:04d}", client_id=client_id,
            referring_institution_id=sender.institution.pk, referring_case_worker_id=referrer_worker,
            receiving_institution_id=receiver.institution.pk,
            assigned_case_worker_id=assigned if Status.ACCEPTED in reached else None,
            status=status, status_changed_at=_at(changed), mandate=MANDATE,
            problem_areas=rng.sample(list(ProblemArea.values), 2) if r_kind == SOCIAL else [],
            planned_duration_months=planned, consent_given_on=local_created.date(),
            consent_form=ConsentForm.WRITTEN, process=process, target_group=group,
            rejection_reason=rejection if Status.REJECTED in reached else "",
            rejection_text="Auftrag zu unbestimmt." if Status.REJECTED in reached and rejection == "other" else "",
            closure_outcome=outcome if Status.CLOSED in reached else "",
            closure_ground=ground if Status.CLOSED in reached else "",
            created_at=_at(created), updated_at=_at(events[-1][0]), active_from=active_from, active_until=active_until,
            **{name: getattr(situation, name) for name in Situation.FIELDS},
        )
        for meeting in meetings:
            done, planned_at = meeting.pop("_at") <= now, meeting.pop("_planned")
            if not done:  # scheduled, not yet recorded
                for name in ("held_on", "recorded_by_id", "recorded_at", "case_work_starts_on",
                             "first_status_meeting_on", "all_agreed", "client_able_and_willing", "next_meeting_on"):
                    meeting[name] = None
                meeting.update(strategy="", progress="", decision="")
            if planned_at <= now:
                writer.add(Meeting, referral_id=referral_id, **meeting)
        for approval_id, requested, decided, approved, amount, signer in approvals:
            if requested > now:
                continue
            done = decided <= now
            state = (CostApprovalStatus.APPROVED if approved else CostApprovalStatus.REFUSED) if done \
                else CostApprovalStatus.REQUESTED
            writer.add(CostApproval, id=approval_id, referral_id=referral_id,
                       requesting_institution_id=receiver.institution.pk,
                       financing_institution_id=sender.institution.pk, requested_by_id=assigned,
                       requested_at=_at(requested), measure="Arbeitstraining", provider="Stiftung Arbeitsweg",
                       amount_chf=amount, starts_on=timezone.localtime(requested, zurich).date(),
                       ends_on=timezone.localtime(requested, zurich).date() + datetime.timedelta(days=90),
                       justification="Gezielte Vorbereitung auf den ersten Arbeitsmarkt.", status=state,
                       decided_by_id=signer if done else None, decided_at=_at(decided) if done else None,
                       refusal_reason="" if approved or not done else "Budget ausgeschöpft.")
        for comment_id, moment, author, text in comments:
            if moment <= now:
                writer.add(Comment, id=comment_id, referral_id=referral_id, author_id=author, text=text,
                           created_at=_at(moment))
        for document_id, moment, actor in documents:
            if moment <= now:
                documents_dir_ready = True
                writer.add(Document, id=document_id, referral_id=referral_id, uploaded_by_id=actor,
                           uploaded_at=_at(moment), kind=DocumentKind.MEETING_NOTE, file=PLACEHOLDER_DOCUMENT,
                           original_name="Übergabeprotokoll.pdf", size=1024, content_type="application/pdf")
        for moment, kind, actor, fields in events:
            writer.add(ReferralEvent, id=ids(ReferralEvent), referral_id=referral_id, actor_id=actor,
                       created_at=_at(moment), kind=kind, **fields)
        if (index + 1) % BATCH == 0 or index + 1 == referrals:
            writer.flush()
            if log and ((index + 1) % (BATCH * 25) == 0 or index + 1 == referrals):
                log(index + 1)
    writer.wait()
    _reset_sequences(models)
    if documents_dir_ready:
        _placeholder_document()
    return {m._meta.label: writer.counts[m] for m in models}


def worth_deferring_indexes(referrals):
    """Building an index once over the whole table is far cheaper than maintaining it row by row, but only when
    the load at least doubles the data: adding a thousand referrals to a million is faster with the indexes.
    Never inside a transaction (a test's): the DDL would hold its locks until the end of it. Never with
    DJANGO_DEBUG off (--force): a live application could write rows without their foreign keys."""
    return (settings.DEBUG and connection.vendor == "postgresql" and not connection.in_atomic_block
            and referrals >= Referral.objects.count())


@contextlib.contextmanager
def deferred_indexes(log=None):
    """PostgreSQL: drop the secondary indexes and the foreign keys of the bulk tables, and create them again
    (in one pass each, with a large maintenance_work_mem) when the block ends, also when it fails or is
    interrupted. Primary keys and unique constraints stay. Issue 14: maintaining ten indexes and two foreign
    key checks per event row made the load slow down as the tables grew (1 M referrals took 18 minutes)."""
    tables = [m._meta.db_table for m in BULK_MODELS]
    with connection.cursor() as cursor:
        cursor.execute(_SECONDARY_INDEXES_SQL, [tables])
        indexes = cursor.fetchall()
        cursor.execute(_FOREIGN_KEYS_SQL, [tables])
        foreign_keys = cursor.fetchall()
    with transaction.atomic(), connection.cursor() as cursor:  # all dropped or none
        for table, name, _definition in foreign_keys:
            cursor.execute(f"ALTER TABLE {table} DROP CONSTRAINT {name}")
        for name, _definition in indexes:
            cursor.execute(f"DROP INDEX {name}")
    if log:
        log(f"Dropped {len(indexes)} indexes and {len(foreign_keys)} foreign keys for the load.")
    try:
        yield
    finally:
        statements = [definition for _name, definition in indexes] + [
            f"ALTER TABLE {table} ADD CONSTRAINT {name} {definition}" for table, name, definition in foreign_keys]
        failed = []
        with connection.cursor() as cursor:
            cursor.execute("SET maintenance_work_mem = '1GB'")
            for statement in statements:  # each on its own: one failure must not skip the others
                try:
                    cursor.execute(statement)
                except DatabaseError as exc:
                    failed.append(f"{statement};  -- {exc}")
        if failed:
            raise RuntimeError("Could not build again (run these by hand):\n" + "\n".join(failed))
        if log:
            log(f"Created {len(indexes)} indexes and {len(foreign_keys)} foreign keys again.")


# Indexes that back no constraint (primary keys and unique constraints stay), and the foreign keys, of the tables;
# names come back quoted as SQL needs them (regclass, quote_ident).
_SECONDARY_INDEXES_SQL = """
    SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
    FROM pg_index i
    WHERE i.indrelid = ANY(%s::regclass[])
      AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)
    ORDER BY 1"""
_FOREIGN_KEYS_SQL = """
    SELECT c.conrelid::regclass::text, quote_ident(c.conname), pg_get_constraintdef(c.oid)
    FROM pg_constraint c
    WHERE c.contype = 'f' AND c.conrelid = ANY(%s::regclass[])
    ORDER BY 1, 2"""


def _reset_sequences(models):
    statements = connection.ops.sequence_reset_sql(no_style(), models)
    if statements:
        with connection.cursor() as cursor:
            for sql in statements:
                cursor.execute(sql)


def _placeholder_document():
    if not default_storage.exists(PLACEHOLDER_DOCUMENT):
        default_storage.save(PLACEHOLDER_DOCUMENT, ContentFile(b"%PDF-1.4\n% synthetic placeholder\n%%EOF\n"))
