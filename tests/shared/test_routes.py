"""A command route calls its service function with what the function names, and no more."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from apiflask import APIBlueprint, APIFlask, Schema
from apiflask.fields import String

from shared.errors import register_error_handlers
from shared.internal_auth import Identity, init_internal_auth
from shared.roles import MANAGERS
from shared.routes import command_route
from tests.support.identity import ApiClient

SECRET = "internal-secret-for-tests-" + "r" * 40


class NoteIn(Schema):
    text = String(required=True)


class NoteOut(Schema):
    text = String(required=True)
    path_id = String(required=True)
    by = String(required=True)
    stamp = String(required=True)


def add_note(*, identity: Identity, note_id: uuid.UUID, text: str, stamp: str) -> dict[str, Any]:
    """Named: identity, the path, the body's field and one use; not the session."""
    return {"text": text, "path_id": str(note_id), "by": identity.user_id, "stamp": stamp}


def replace_note(*, note_id: uuid.UUID, changes: dict[str, Any]) -> dict[str, Any]:
    return {"text": changes["text"], "path_id": str(note_id), "by": "-", "stamp": "-"}


@pytest.fixture
def api() -> ApiClient:
    app = APIFlask(__name__)
    register_error_handlers(app)
    init_internal_auth(app, service="fleet", secret=SECRET, open_paths=())
    bp = APIBlueprint("notes", __name__, url_prefix="/notes")
    command_route(
        bp,
        "POST",
        "/<uuid:note_id>",
        add_note,
        body=NoteIn,
        item=NoteOut,
        status_code=201,
        uses={"stamp": lambda: "made per request"},
        summary="Add a note",
    )
    command_route(
        bp,
        "PUT",
        "/<uuid:note_id>",
        replace_note,
        body=NoteIn,
        body_as="changes",
        item=NoteOut,
        roles=MANAGERS,
        summary="Replace a note (manager)",
    )
    app.register_blueprint(bp)
    return ApiClient(app, "fleet", SECRET)


def test_a_command_calls_its_handler_with_what_it_names(api):
    note_id, user_id = uuid.uuid4(), str(uuid.uuid4())

    response = api.post(
        f"/notes/{note_id}", user=user_id, role="driver", json={"text": "pneu furado"}
    )

    assert response.status_code == 201
    assert response.json == {
        "text": "pneu furado",
        "path_id": str(note_id),
        "by": user_id,
        "stamp": "made per request",
    }


def test_a_command_takes_the_whole_body_as_changes_and_declares_its_roles(api):
    path = f"/notes/{uuid.uuid4()}"

    refused = api.call("PUT", path, user=str(uuid.uuid4()), role="driver", json={"text": "x"})
    done = api.call("PUT", path, user=str(uuid.uuid4()), role="manager", json={"text": "x"})

    assert refused.status_code == 403
    assert done.status_code == 200
    assert done.json["text"] == "x"
    assert done.json["path_id"] == path.rsplit("/", 1)[1]


def test_a_command_validates_its_body_before_the_handler_runs(api):
    response = api.post(f"/notes/{uuid.uuid4()}", user=str(uuid.uuid4()), role="driver", json={})

    assert response.status_code == 422
    assert "text" in response.get_data(as_text=True)


def test_a_use_the_handler_does_not_take_is_refused_when_declared():
    bp = APIBlueprint("broken", __name__)

    with pytest.raises(TypeError, match="takes no stamp"):
        command_route(
            bp,
            "POST",
            "",
            replace_note,
            item=NoteOut,
            uses={"stamp": lambda: "never"},
            summary="A mistake",
        )
