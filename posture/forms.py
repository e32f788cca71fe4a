from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import cache
from typing import Any

import botocore.loaders
from django import forms
from django.contrib.auth import get_user_model
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db.models import Q, QuerySet
from django.http import QueryDict
from django.utils import timezone

from accounts.models import Account
from accounts.roles import ADMIN, ANALYST
from posture.aws.inventory import GLOBAL_REGION
from posture.checks.base import Area, Severity, Status, registry
from posture.models import Finding, Scan
from posture.selectors.findings import ACTIVE_TRIAGE_STATES, DEFAULT_SORT, SORT_CHOICES, finding_list
from triage import services
from triage.models import FindingException
from triage.selectors import (
    BULK_MAX,
    MANUAL_STATES,
    BulkTriagePreview,
    finding_ids_parse,
    findings_bulk_preview,
    findings_visible_rows,
)
from triage.validators import parse_tags

# Partitions whose regions the region filter offers (those an account's role ARN may name), beside
# "global" for account-wide results.
PARTITIONS = ("aws", "aws-us-gov", "aws-cn")
# (from field, to field, label of the range) of the date filters.
DATE_RANGES = (
    ("first_seen_from", "first_seen_to", "first seen"),
    ("last_seen_from", "last_seen_to", "last seen"),
)


class DateFilterField(forms.DateField):
    """An ISO date (what an <input type="date"> sends) whose error names the rejected value."""

    widget = forms.DateInput(format="%Y-%m-%d", attrs={"type": "date"})
    input_formats = ["%Y-%m-%d"]

    def to_python(self, value: Any) -> dt.date | None:
        try:
            return super().to_python(value)
        except ValidationError:
            raise ValidationError(
                "%(value)r is not a date. Use the form YYYY-MM-DD, such as 2025-01-31.",
                code="invalid",
                params={"value": value},
            ) from None


@cache
def region_names() -> tuple[str, ...]:
    """Return the region names of PARTITIONS, sorted, from botocore's partitions data.

    That small file is read instead of botocore's endpoint data, which would add tens of MB to
    every process that renders the findings page.
    """
    data = botocore.loaders.create_loader().load_data("partitions")
    names = {
        region
        for partition in data["partitions"]
        if partition["id"] in PARTITIONS
        for region in partition["regions"]
        # Pseudo-regions such as aws-global name global endpoints, never a place resources live.
        if not region.endswith("-global")
    }
    return tuple(sorted(names))


def _invalid_choice(kind: str) -> dict[str, str]:
    return {"invalid_choice": f"%(value)r is not a known {kind}. Pick one from the list."}


# Values of the triage filters beside the triage states and the usernames.
TRIAGE_ACTIVE = "active"
ASSIGNEE_ME = "me"
ASSIGNEE_NONE = "none"
# Names of the filters in messages, where the label of the field reads badly in a sentence.
_FILTER_SUBJECTS = {
    "sort": "The sort order",
    "triage_state": "The triage state filter",
    "assignee": "The assignee filter",
}


def assignable_users() -> QuerySet:
    """Return the active users who may triage (analysts, admins and superusers), by username."""
    user_model = get_user_model()
    return (
        user_model.objects.filter(is_active=True)
        .filter(Q(is_superuser=True) | Q(groups__name__in=(ANALYST, ADMIN)))
        .distinct()
        .order_by(user_model.USERNAME_FIELD)
    )


class FindingFilterForm(forms.Form):
    """Filters and sort order of the findings list, read from the query string so a view has a URL."""

    q = forms.CharField(
        label="Search",
        max_length=200,
        required=False,
        widget=forms.TextInput(attrs={"type": "search", "placeholder": "Resource id or check title"}),
    )
    account = forms.ModelChoiceField(
        queryset=Account.objects.order_by("name", "account_id"),
        to_field_name="account_id",
        required=False,
        empty_label="All accounts",
        error_messages={"invalid_choice": "No account has the account id %(value)r."},
    )
    environment = forms.ChoiceField(required=False, error_messages=_invalid_choice("environment"))
    area = forms.ChoiceField(
        choices=[("", "All areas"), *Area.choices], required=False, error_messages=_invalid_choice("area")
    )
    check = forms.ChoiceField(required=False, error_messages=_invalid_choice("check id"))
    severity = forms.ChoiceField(
        choices=[("", "All severities"), *Severity.choices],
        required=False,
        error_messages=_invalid_choice("severity"),
    )
    status = forms.ChoiceField(
        choices=[("", "All statuses"), *Status.choices],
        required=False,
        error_messages=_invalid_choice("status"),
    )
    region = forms.ChoiceField(required=False, error_messages=_invalid_choice("region"))
    # Labelled "Triage" and "Assigned to" so they differ from the bulk panel's "State" and "Assignee".
    # "Active" is short enough for the select's width, and the title spells it out.
    triage_state = forms.ChoiceField(
        label="Triage",
        choices=[
            ("", "All triage states"),
            (TRIAGE_ACTIVE, "Active"),
            *Finding.TriageState.choices,
        ],
        required=False,
        widget=forms.Select(attrs={"title": "Active means open, acknowledged or in progress."}),
        error_messages=_invalid_choice("triage state"),
    )
    assignee = forms.ChoiceField(
        label="Assigned to",
        required=False,
        error_messages={
            "invalid_choice": "%(value)r is not the username of an analyst or admin. Pick one from the list."
        },
    )
    first_seen_from = DateFilterField(label="First seen from", required=False)
    first_seen_to = DateFilterField(label="First seen to", required=False)
    last_seen_from = DateFilterField(label="Last seen from", required=False)
    last_seen_to = DateFilterField(label="Last seen to", required=False)
    include_gone = forms.BooleanField(
        required=False,
        label="Include resources no longer listed",
        help_text="Findings whose resource the latest scan of the account did not list.",
    )
    sort = forms.ChoiceField(
        label="sort order",
        choices=[("", "Default"), *((value, value) for value in SORT_CHOICES)],
        required=False,
        widget=forms.HiddenInput,
        error_messages={"invalid_choice": "%(value)r is not a column to sort by."},
    )

    def __init__(self, *args, user=None, **kwargs) -> None:
        """`user` is the requesting user, whom the assignee filter "me" names."""
        super().__init__(*args, **kwargs)
        self.user = user
        self._range_problems: list[tuple[str, str]] = []
        checks = sorted(registry().values(), key=lambda d: d.title)
        self.fields["check"].choices = [("", "All checks"), *((d.id, d.title) for d in checks)]
        environments = (
            Account.objects.exclude(environment="")
            .order_by("environment")
            .values_list("environment", flat=True)
            .distinct()
        )
        self.fields["environment"].choices = [("", "All environments"), *((e, e) for e in environments)]
        self.fields["region"].choices = [
            ("", "All regions"),
            (GLOBAL_REGION, "global (account-wide)"),
            *((region, region) for region in region_names()),
        ]
        # Kept for the bulk panel of the same page, which offers the same users.
        self.assignees = list(assignable_users())
        self._assignee_ids = {user.get_username(): user.pk for user in self.assignees}
        self.fields["assignee"].choices = [
            ("", "Anyone"),
            (ASSIGNEE_ME, "Me"),
            (ASSIGNEE_NONE, "Nobody"),
            *((username, username) for username in self._assignee_ids),
        ]

    def clean_assignee(self) -> str:
        value = self.cleaned_data["assignee"]
        if value == ASSIGNEE_ME and (self.user is None or not self.user.is_authenticated):
            raise ValidationError("'me' names the signed-in user, and this request has none.", code="no_user")
        return value

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        for first_name, last_name, label in DATE_RANGES:
            first, last = data.get(first_name), data.get(last_name)
            if first and last and first > last:
                reason = f"{first:%Y-%m-%d} is after {last:%Y-%m-%d}. Put the earlier date first."
                self._range_problems.append((f"The {label} range", reason))
                self.add_error(None, f"The {label} range is reversed: {reason}")
                data.pop(first_name, None)
                data.pop(last_name, None)
        return data

    def filters(self) -> dict[str, Any]:
        """Return the keyword arguments of `posture.selectors.findings.finding_list` for the valid filters.

        An invalid filter is left out (`ignored_messages` returns the reason), so one bad value in a shared
        URL does not hide the whole list.
        """
        self.is_valid()
        data = self.cleaned_data
        account = data.get("account")
        triage_state = data.get("triage_state", "")
        assignee = data.get("assignee", "")
        if assignee == ASSIGNEE_ME:
            assignee_id = self.user.pk
        else:
            assignee_id = self._assignee_ids.get(assignee)
        if triage_state == TRIAGE_ACTIVE:
            triage_states = ACTIVE_TRIAGE_STATES
        else:
            triage_states = (triage_state,) if triage_state else ()
        return {
            "account_pk": account.pk if account else None,
            "environment": data.get("environment", ""),
            "area": data.get("area", ""),
            "check_id": data.get("check", ""),
            "severity": data.get("severity", ""),
            "status": data.get("status", ""),
            "region": data.get("region", ""),
            "first_seen_from": data.get("first_seen_from"),
            "first_seen_to": data.get("first_seen_to"),
            "last_seen_from": data.get("last_seen_from"),
            "last_seen_to": data.get("last_seen_to"),
            "search": data.get("q", ""),
            "include_gone": bool(data.get("include_gone")),
            "triage_states": triage_states,
            "assignee_id": assignee_id,
            "unassigned": assignee == ASSIGNEE_NONE,
        }

    def sort_order(self) -> str:
        """Return the requested sort order, or the default one when none or an invalid one was given."""
        self.is_valid()
        return self.cleaned_data.get("sort") or DEFAULT_SORT

    def ignored_messages(self) -> list[str]:
        """Return one sentence per ignored filter, naming the filter, the value and the reason."""
        return [f"{subject} was ignored: {reason}" for subject, reason in self._problems()]

    def invalid_messages(self) -> list[str]:
        """Return one sentence per invalid filter, for callers that reject the whole query instead."""
        return [f"{subject} is invalid: {reason}" for subject, reason in self._problems()]

    def _problems(self) -> list[tuple[str, str]]:
        """Return (subject, reason) per invalid filter, such as ("The severity filter", "'x' is not ...")."""
        self.is_valid()
        problems = list(self._range_problems)
        for name, errors in self.errors.items():
            # The non-field errors are the reversed date ranges, which clean() recorded above.
            if name == NON_FIELD_ERRORS:
                continue
            subject = _FILTER_SUBJECTS.get(name, f"The {self[name].label.lower()} filter")
            problems.extend((subject, error) for error in errors)
        return problems


class FindingIdsField(forms.Field):
    """The ids of the findings ticked in the table, as posted; triage.selectors checks each one."""

    widget = forms.MultipleHiddenInput
    hidden_widget = forms.MultipleHiddenInput

    def to_python(self, value: Any) -> list[str]:
        return [str(item) for item in value or []]


BULK_TRIAGE = "triage"
BULK_EXCEPTION = "exception"
# The service's error codes that belong to one field of the panel; any other code names the whole form.
_BULK_FIELD_OF_CODE = {
    "unknown_state": "state",
    "state_from_exception": "state",
    "assignee_role": "assignee",
    "assign_conflict": "assignee",
}
# Keys of exception_validate's message_dict and the panel's field for each.
_BULK_FIELD_OF_EXCEPTION_KEY = {"kind": "kind", "reason": "reason", "expires_at": "expires_on"}


@dataclass(frozen=True)
class BulkExceptionPreview:
    """An exception that a bulk action proposes: its checked fields and the findings it lists."""

    ids: list[int]
    kind: str
    reason: str
    expires_at: dt.datetime | None
    # Selected findings that a valid exception covers already.
    covered: int

    @property
    def selected(self) -> int:
        return len(self.ids)


def assignee_from_value(value: str):
    """Return the user whose id is `value` from an assignee select, None for "", or raise ValidationError."""
    if not value:
        return None
    user_model = get_user_model()
    try:
        return user_model.objects.get(pk=int(value))
    except (ValueError, user_model.DoesNotExist):
        raise ValidationError(
            "User id %(value)r not found. Choose the assignee from the list.",
            code="unknown_user",
            params={"value": value},
        ) from None


class BulkTriageForm(forms.Form):
    """A bulk action on the findings selected in the table: triage them, or propose an exception.

    The selection is the ticked ids (`finding`), or with `all_matching` every finding that the
    `filters` query string matches, evaluated here on the server. A valid form puts the preview
    in cleaned_data["preview"]: a triage.selectors.BulkTriagePreview or a BulkExceptionPreview.
    Posting it again with `confirm` applies it.
    """

    finding = FindingIdsField(required=False)
    all_matching = forms.BooleanField(required=False)
    filters = forms.CharField(required=False, strip=False, max_length=4000, widget=forms.HiddenInput)
    action = forms.ChoiceField(
        choices=[(BULK_TRIAGE, "Triage"), (BULK_EXCEPTION, "Propose exception")],
        error_messages={
            "required": "Choose a bulk action: review the triage changes, or propose an exception.",
            "invalid_choice": "%(value)r is not a bulk action. Use the panel's buttons.",
        },
    )
    state = forms.CharField(label="State", required=False)
    assignee = forms.CharField(label="Assignee", required=False)
    unassign = forms.BooleanField(label="Unassign", required=False)
    comment = forms.CharField(label="Comment", required=False, widget=forms.Textarea(attrs={"rows": 2}))
    kind = forms.CharField(label="Exception kind", required=False)
    reason = forms.CharField(label="Reason", required=False, widget=forms.Textarea(attrs={"rows": 2}))
    expires_on = DateFilterField(label="Expires on", required=False)
    confirm = forms.BooleanField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args, user, assignees: list | None = None, **kwargs) -> None:
        """`assignees` are the users offered as assignee, by default every assignable user."""
        # Field ids start with "bulk_", apart from the filter form's ids on the same page.
        kwargs.setdefault("auto_id", "bulk_%s")
        super().__init__(*args, **kwargs)
        self.user = user
        self.fields["state"].widget = forms.Select(
            choices=[("", "Keep the state"), *((state.value, state.label) for state in MANUAL_STATES)]
        )
        if assignees is None:
            assignees = list(assignable_users())
        self.fields["assignee"].widget = forms.Select(
            choices=[("", "Keep the assignee"), *((u.pk, u.get_username()) for u in assignees)]
        )
        self.fields["kind"].widget = forms.Select(choices=FindingException.Kind.choices)

    def resubmitted_fields(self) -> list[forms.BoundField]:
        """Return the fields that the confirmation posts again, every one but `confirm`."""
        return [field for field in self if field.name != "confirm"]

    def clean_assignee(self):
        return assignee_from_value(self.cleaned_data["assignee"].strip())

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if self.errors:
            return data
        ids = self._selected_ids(data)
        if ids is None:
            return data
        if data["action"] == BULK_TRIAGE:
            data["preview"] = self._triage_preview(data, ids)
        else:
            data["preview"] = self._exception_preview(data, ids)
        return data

    def _selected_ids(self, data: dict[str, Any]) -> list[Any] | None:
        """Return the selected ids as posted, or every id the filters match; None after an error."""
        if not data["all_matching"]:
            return data["finding"]
        filter_form = FindingFilterForm(QueryDict(data["filters"]), user=self.user)
        problems = filter_form.invalid_messages()
        if problems:
            self.add_error(None, " ".join(problems) + " Fix the filters, then select again.")
            return None
        matching = finding_list(**filter_form.filters()).order_by().values_list("pk", flat=True)
        ids = list(matching[: BULK_MAX + 1])
        if len(ids) > BULK_MAX:
            self.add_error(
                None,
                f"More than {BULK_MAX:,} findings match the filters; a bulk action takes at most "
                f"{BULK_MAX:,}. Narrow the filters.",
            )
            return None
        return ids

    def _triage_preview(self, data: dict[str, Any], ids: list[Any]) -> BulkTriagePreview | None:
        try:
            return findings_bulk_preview(
                user=self.user,
                finding_ids=ids,
                state=data["state"] or None,
                assignee=data["assignee"],
                unassign=data["unassign"],
                comment=data["comment"],
            )
        except ValidationError as exc:
            for error in exc.error_list:
                self.add_error(_BULK_FIELD_OF_CODE.get(error.code), error)
            return None

    def _exception_preview(self, data: dict[str, Any], ids: list[Any]) -> BulkExceptionPreview | None:
        day = data["expires_on"]
        # An exception expires at the start of the chosen day, in UTC, as on the finding page.
        expires_at = dt.datetime.combine(day, dt.time(0, 0), tzinfo=dt.UTC) if day else None
        try:
            parsed = finding_ids_parse(ids)
            if not parsed:
                raise ValidationError("No finding is selected. Select at least one.", code="empty_selection")
            if len(parsed) > BULK_MAX:
                raise ValidationError(
                    f"{len(parsed):,} findings are selected; an exception lists at most {BULK_MAX:,}. "
                    "Narrow the filter.",
                    code="selection_too_large",
                )
            rows = findings_visible_rows(user=self.user, ids=parsed, fields=("exception_id",))
        except ValidationError as exc:
            self.add_error(None, exc)
            return None
        try:
            fields = services.exception_validate(
                kind=data["kind"],
                reason=data["reason"],
                expires_at=expires_at,
                check_id="",
                account_id="",
                region="",
                resource_pattern="",
                tags=None,
                listed=True,
                now=timezone.now(),
            )
        except ValidationError as exc:
            for key, messages in exc.message_dict.items():
                self.add_error(_BULK_FIELD_OF_EXCEPTION_KEY.get(key), messages)
            return None
        return BulkExceptionPreview(
            ids=parsed,
            kind=fields["kind"],
            reason=fields["reason"],
            expires_at=fields["expires_at"],
            covered=sum(1 for (exception_id,) in rows.values() if exception_id is not None),
        )


# Exceptions. The rules of each field live in triage.services.exception_validate, so the form, the
# mutelist import and any script reject the same values with the same messages.
AWAITING_MY_REVIEW = "awaiting_review"
# Keys of the service's message_dict that have another name here. The key "scope" has no field.
_EXCEPTION_FIELD_OF_KEY = {"expires_at": "expires_on", "scope": None}


class ExceptionFilterForm(forms.Form):
    """Filters of the exceptions list, read from the query string."""

    state = forms.ChoiceField(required=False, error_messages=_invalid_choice("exception state"))
    kind = forms.ChoiceField(
        choices=[("", "All kinds"), *FindingException.Kind.choices],
        required=False,
        error_messages=_invalid_choice("exception kind"),
    )

    def __init__(self, *args, may_review: bool = False, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        states = [("", "All states")]
        if may_review:
            states.append((AWAITING_MY_REVIEW, "Waiting for my review"))
        states.extend(FindingException.State.choices)
        states.append(("disabled", "Disabled"))
        self.fields["state"].choices = states

    def values(self) -> tuple[str, str]:
        """Return the valid (state, kind). An invalid value is "", and `ignored_messages` explains it."""
        self.is_valid()
        return self.cleaned_data.get("state", ""), self.cleaned_data.get("kind", "")

    def ignored_messages(self) -> list[str]:
        self.is_valid()
        return [
            f"The {name} filter was ignored: {error}"
            for name, errors in self.errors.items()
            for error in errors
        ]


class ExceptionRuleForm(forms.Form):
    """Propose an exception for a rule: which findings it matches, why, and until when."""

    SCOPE_FIELDS = ("check_id", "account_id", "region", "resource_pattern", "tags")

    kind = forms.ChoiceField(choices=FindingException.Kind.choices, error_messages=_invalid_choice("kind"))
    # Not required here, because the service's message for an empty reason explains what to write.
    reason = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Why the matching findings are an accepted risk or wrong. The reviewer reads this.",
    )
    expires_on = DateFilterField(
        label="Expires on",
        required=False,
        help_text="The exception stops counting at 00:00 UTC of this day. Required for an accepted risk, "
        "at most 365 days ahead.",
    )
    check_id = forms.ChoiceField(label="Check", required=False, error_messages=_invalid_choice("check id"))
    account_id = forms.CharField(
        label="Account id",
        required=False,
        max_length=12,
        help_text="12 digits. The account need not be registered yet.",
    )
    region = forms.CharField(
        required=False,
        max_length=30,
        help_text=f"A region code such as us-east-1, or {GLOBAL_REGION} for account-wide results "
        "such as IAM.",
    )
    resource_pattern = forms.CharField(
        required=False,
        max_length=512,
        help_text="A glob over the whole resource id (ARN), case-sensitive: * any text, ? one character, "
        "[abc] one of a set. Example: arn:aws:ec2:*:volume/vol-*",
    )
    tags = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="One key=value per line, such as Environment=test. The resource must carry every tag "
        "with exactly this value.",
    )

    def __init__(self, *args, **kwargs) -> None:
        # No colon after the labels, like the labels written by hand in the other forms.
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        checks = sorted(registry().values(), key=lambda d: d.title)
        self.fields["check_id"].choices = [
            ("", "Any check"),
            *((d.id, f"{d.title} ({d.id})") for d in checks),
        ]

    def clean_account_id(self) -> str:
        return self.cleaned_data["account_id"].strip()

    def clean_region(self) -> str:
        return self.cleaned_data["region"].strip()

    def clean_resource_pattern(self) -> str:
        return self.cleaned_data["resource_pattern"].strip()

    def clean_tags(self) -> dict[str, str]:
        return parse_tags(self.cleaned_data["tags"])

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        try:
            services.exception_validate(**self._service_fields(data), listed=False, now=timezone.now())
        except ValidationError as exc:
            self.add_service_errors(exc)
        return data

    def _service_fields(self, data: dict[str, Any]) -> dict[str, Any]:
        return {
            "kind": data.get("kind", ""),
            "reason": data.get("reason", ""),
            "expires_at": day_start(data.get("expires_on")),
            "check_id": data.get("check_id", ""),
            "account_id": data.get("account_id", ""),
            "region": data.get("region", ""),
            "resource_pattern": data.get("resource_pattern", ""),
            "tags": data.get("tags") or {},
        }

    def add_service_errors(self, exc: ValidationError) -> None:
        """Show each message of the service's message_dict next to its field.

        A field that already failed here keeps its one message. The rule-wide "scope" message is
        left out while a scope field has an error, because that field may be the one filled in.
        """
        for key, errors in exc.message_dict.items():
            name = _EXCEPTION_FIELD_OF_KEY.get(key, key)
            if name is not None and name not in self.fields:
                name = None
            if name in self.errors:
                continue
            if key == "scope" and any(field in self.errors for field in self.SCOPE_FIELDS):
                continue
            self.add_error(name, errors)

    def proposal(self) -> dict[str, Any]:
        """Return the keyword arguments of triage.services.exception_propose, once the form is valid."""
        return self._service_fields(self.cleaned_data)

    def rule(self) -> dict[str, Any] | None:
        """Return the scope fields when they are all valid, for a preview of the matches; else None."""
        self.is_valid()
        if any(name in self.errors for name in self.SCOPE_FIELDS) or NON_FIELD_ERRORS in self.errors:
            return None
        fields = self._service_fields(self.cleaned_data)
        return {name: fields[name] for name in self.SCOPE_FIELDS}

    def scope_errors(self) -> list[str]:
        """Return the messages of the scope fields and of the whole rule, each naming its field."""
        self.is_valid()
        found = [
            f"{self[name].label}: {error}"
            for name in self.SCOPE_FIELDS
            for error in self.errors.get(name, [])
        ]
        return found + list(self.errors.get(NON_FIELD_ERRORS, []))

    def drop_errors_outside_scope(self) -> None:
        """Forget the errors of the kind, reason and expiry, which a preview of the matches ignores."""
        self.is_valid()
        for name in list(self.errors):
            if name not in self.SCOPE_FIELDS and name != NON_FIELD_ERRORS:
                del self.errors[name]


def day_start(day: dt.date | None) -> dt.datetime | None:
    """Return 00:00 UTC of `day`, the moment an exception that expires on that day stops counting."""
    if day is None:
        return None
    return dt.datetime.combine(day, dt.time(0, 0), tzinfo=dt.UTC)


class FinishedScanField(forms.Field):
    """A scan id that must name a finished scan. It cleans to the Scan."""

    # Up to 18 digits always fit a 64-bit integer column, so a longer id is rejected before the query.
    MAX_DIGITS = 18

    def to_python(self, value: Any) -> Scan | None:
        value = (value or "").strip()
        if not value:
            return None
        if not (value.isascii() and value.isdigit()) or len(value) > self.MAX_DIGITS:
            raise ValidationError(
                "%(value)r is not a valid scan id. Pick a scan from the list.",
                code="invalid",
                params={"value": value},
            )
        scan = Scan.objects.filter(pk=int(value)).first()
        if scan is None:
            raise ValidationError(
                "Scan %(value)s was not found. Pick a scan from the list.",
                code="not_found",
                params={"value": value},
            )
        if not scan.is_finished:
            raise ValidationError(
                "Scan %(value)s is %(state)s, so its results are not final. Pick a finished scan.",
                code="not_finished",
                params={"value": value, "state": scan.get_state_display().lower()},
            )
        return scan


class ScanChangesForm(forms.Form):
    """The two scans and the filters of the changes page, read from the query string.

    The scans are the fields `from` (the older) and `to`, added in __init__ because "from" is a
    Python keyword. An invalid value is left out and `ignored_messages` names it, so the page
    falls back to its default for that value.
    """

    account = forms.ModelChoiceField(
        queryset=Account.objects.order_by("name", "account_id"),
        to_field_name="account_id",
        required=False,
        empty_label="All accounts",
        error_messages={"invalid_choice": "No account has the account id %(value)r."},
    )
    environment = forms.ChoiceField(required=False, error_messages=_invalid_choice("environment"))
    area = forms.ChoiceField(
        choices=[("", "All areas"), *Area.choices], required=False, error_messages=_invalid_choice("area")
    )
    severity = forms.ChoiceField(
        choices=[("", "All severities"), *Severity.choices],
        required=False,
        error_messages=_invalid_choice("severity"),
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields = {
            "from": FinishedScanField(label="From", required=False),
            "to": FinishedScanField(label="To", required=False),
            **self.fields,
        }
        environments = (
            Account.objects.exclude(environment="")
            .order_by("environment")
            .values_list("environment", flat=True)
            .distinct()
        )
        self.fields["environment"].choices = [("", "All environments"), *((e, e) for e in environments)]

    def scans(self) -> tuple[Scan | None, Scan | None]:
        """Return the valid (from, to) scans, None for a scan not given or invalid."""
        self.is_valid()
        return self.cleaned_data.get("from"), self.cleaned_data.get("to")

    def filters(self) -> dict[str, Any]:
        """Return the keyword arguments of `posture.selectors.changes.scan_changes` for the valid filters."""
        self.is_valid()
        data = self.cleaned_data
        account = data.get("account")
        return {
            "account_pk": account.pk if account else None,
            "environment": data.get("environment", ""),
            "area": data.get("area", ""),
            "severity": data.get("severity", ""),
        }

    def query(self) -> dict[str, str]:
        """Return the valid filters as query string values, for links that keep them."""
        self.is_valid()
        data = self.cleaned_data
        account = data.get("account")
        values = {
            "account": account.account_id if account else "",
            "environment": data.get("environment", ""),
            "area": data.get("area", ""),
            "severity": data.get("severity", ""),
        }
        return {name: value for name, value in values.items() if value}

    def ignored_messages(self) -> list[str]:
        """Return one sentence per ignored value, naming the field, the value and the reason."""
        self.is_valid()
        messages = []
        for name, errors in self.errors.items():
            if name in ("from", "to"):
                what = f'The "{name}" scan'
            else:
                what = f"The {self[name].label.lower()} filter"
            # Each error is a sentence of its own, so it follows a full stop rather than a colon.
            messages.extend(f"{what} was ignored. {error}" for error in errors)
        return messages
