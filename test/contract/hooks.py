"""Schemathesis hooks for `npm run test:contract` (loaded through `hooks` in schemathesis.toml)."""

import os

import requests
import schemathesis
from hypothesis import strategies as st

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
