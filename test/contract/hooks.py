"""Schemathesis hooks for `npm run test:contract` (loaded through `hooks` in schemathesis.toml)."""

import json
import os
import re

import jsonschema_rs
import requests
import schemathesis
from hypothesis import strategies as st
from schemathesis.core.failures import Failure
from schemathesis.specs.openapi.checks import response_schema_conformance

# Operations only a user may call on itself: generated ids get the 403 they should, and
# half the cases use the caller's own id, so that the operation is served too.
OWN_ID_OPERATIONS = {"updateUser", "followUser", "unfollowUser", "getFeed", "createExport", "listBlocked", "getBlock", "blockUser", "unblockUser"}


def _operation_id(context) -> str | None:
    operation = context.operation
    return operation.definition.raw.get("operationId") if operation is not None else None


@schemathesis.hook
def flatmap_path_parameters(context, path_parameters):
    if _operation_id(context) not in OWN_ID_OPERATIONS or "id" not in path_parameters:
        return st.just(path_parameters)
    own = {**path_parameters, "id": int(os.environ["CONTRACT_USER_ID"])}
    return st.sampled_from([path_parameters, own])


def _new_session() -> dict:
    """A login of the run's user: a session of its own, which a call may end."""
    answer = requests.post(
        f"{os.environ['CONTRACT_API']}/tokens",
        auth=(os.environ["CONTRACT_USERNAME"], os.environ["CONTRACT_PASSWORD"]),
        timeout=10,
    )
    answer.raise_for_status()
    return answer.json()


@schemathesis.hook
def before_call(context, case, kwargs):
    """Ends a session made for the call, never the one whose token the whole run uses."""
    operation_id = case.operation.definition.raw.get("operationId")
    if operation_id == "revokeToken":
        headers = case.headers or {}
        if headers.get("Authorization") == f"Bearer {os.environ['CONTRACT_TOKEN']}":
            headers["Authorization"] = f"Bearer {_new_session()['token']}"
    # Session ids are small integers, so the tool names the run's own session (often id 1)
    # soon enough: it ends one made for the call instead, and is still answered 204.
    # The coverage phase sends path parameters as text ("1"), the others as numbers.
    elif operation_id == "endSession":
        parameters = case.path_parameters or {}
        value = parameters.get("session_id")
        if str(_plain({"v": value})["v"]) == os.environ["CONTRACT_SESSION_ID"]:
            other = _new_session()["session_id"]
            parameters["session_id"] = str(other) if isinstance(value, str) else other


def _plain(values):
    """Integral numbers as integers: 285149.0 becomes 285149."""
    if not values:
        return values
    return {name: int(value) if isinstance(value, float) and value.is_integer() else value for name, value in values.items()}


# JSON Schema counts 285149.0 as an integer, so the tool may send an id or a page as
# `285149.0`; this API takes them written as plain decimal digits only (openapi.yaml, `Id`
# and the paging parameters), which a schema cannot say, and answers 400 otherwise. The
# project's own tests hold that 400 (test/users.test.ts); here such
# values are sent as the integers they are, so that the checks judge the rest.
@schemathesis.hook
def map_path_parameters(context, path_parameters):
    return _plain(path_parameters)


@schemathesis.hook
def map_query(context, query):
    return _plain(query)


# GET /api/notifications/stream answers text/event-stream. The contract gives its body the
# schema of the text (`NotificationEvents`, a string, so that generated SDKs hand the text
# over), and says in prose what each event is: `id:` the notification's id, `data:` the
# UserNotification as JSON. Schemathesis reads the `schema` of an event stream in OpenAPI 3.1 as
# each event's, and an event is no string; so the built-in response_schema_conformance is
# off for that operation (schemathesis.toml) and this check judges its answers instead: a
# JSON answer (400, 401, 406…) as response_schema_conformance does, an event stream by
# what the contract says of it.
_EVENT_END = re.compile(r"(?:\r\n|\r|\n){2}")
_LINE = re.compile(r"\r\n|\r|\n")
_validators: dict[int, jsonschema_rs.Validator] = {}


def _notification_validator(case) -> jsonschema_rs.Validator:
    """The contract's UserNotification schema, its references resolved within the document."""
    raw = case.operation.schema.raw_schema
    key = id(raw)
    if key not in _validators:
        schema = {"$ref": "#/components/schemas/UserNotification", "components": raw["components"]}
        _validators[key] = jsonschema_rs.validator_for(schema, validate_formats=True)
    return _validators[key]


def _stream_failure(case, message: str) -> Failure:
    return Failure(operation=case.operation.label, title="Notification stream violates the contract", message=message)


@schemathesis.check
def notification_stream_conformance(ctx, response, case):
    """Each event of GET /api/notifications/stream: `id:` the id of the UserNotification in its `data:`."""
    if case.operation.definition.raw.get("operationId") != "streamNotifications":
        return None
    content_type = (response.headers.get("content-type") or [""])[0]
    if not content_type.startswith("text/event-stream"):
        return response_schema_conformance(ctx, response, case)
    text = response.content.decode("utf-8")
    if not re.match(r"retry: [0-9]+(\r\n|\r|\n){2}", text):
        raise _stream_failure(case, f"The stream does not begin with a `retry:` line and a blank line: {text[:80]!r}")
    blocks = _EVENT_END.split(text)
    if not response.stream_cut_short and blocks[-1] != "":
        raise _stream_failure(case, f"The stream ends inside an event: {blocks[-1][:200]!r}")
    validator = _notification_validator(case)
    sent_after = (case.headers or {}).get("Last-Event-ID")
    previous = int(sent_after) if sent_after is not None and str(sent_after).isdigit() else 0
    for block in blocks[:-1]:
        fields = [line.partition(":") for line in _LINE.split(block) if line and not line.startswith(":")]
        data = [value.removeprefix(" ") for name, _, value in fields if name == "data"]
        ids = [value.removeprefix(" ") for name, _, value in fields if name == "id"]
        if not data:
            continue
        try:
            notification = json.loads("\n".join(data))
        except ValueError as exc:
            raise _stream_failure(case, f"An event's data is not JSON ({exc}): {block!r}") from None
        errors = [error.message for error in validator.iter_errors(notification)]
        if errors:
            raise _stream_failure(case, f"An event's data is no UserNotification ({'; '.join(errors)}): {block!r}")
        if ids != [str(notification["id"])]:
            raise _stream_failure(case, f"An event's `id:` is not its notification's id: {block!r}")
        if notification["id"] <= previous:
            raise _stream_failure(case, f"Event ids do not grow past {previous} (Last-Event-ID {sent_after}): {block!r}")
        previous = notification["id"]
    return None
