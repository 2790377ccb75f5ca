"""Routes declare their contract: the docstring gives summary and description, the decorator the rest."""

from __future__ import annotations

from chalice import Blueprint, Chalice

from chalicelib.core.routedoc import ATTRIBUTE, LIMIT, RouteDoc, describe, split_docstring
from chalicelib.core.web import Api, ApiRequest


def test_the_docstring_splits_into_summary_and_description() -> None:
    # Given a handler whose docstring has a summary line and wrapped paragraphs
    def handler() -> None:
        """Share a video
        to people.

        At most 20
        targets.

        A retry returns the original.
        """

    # When it is split
    summary, description = split_docstring(handler)

    # Then each paragraph is one line, the first being the summary
    assert summary == "Share a video to people."
    assert description == "At most 20 targets.\n\nA retry returns the original."


def test_api_route_records_its_declaration_on_the_view() -> None:
    # Given a route declared with its response model, errors and parameters
    bp = Blueprint("toy")

    @Api(bp).route("/v1/things", methods=["GET"], auth=False, response="toy.models:Things", errors=(404,),
                   params=(LIMIT,))  # fmt: skip
    def toy_things(request: ApiRequest) -> dict[str, str]:
        """The things."""
        return {}

    app = Chalice(app_name="toy")
    app.register_blueprint(bp)

    # When the registered view is read
    view = app.routes["/v1/things"]["GET"].view_function

    # Then the wrapper view carries the declaration (summary from the docstring)
    assert getattr(view, ATTRIBUTE) == RouteDoc(
        summary="The things.", auth=False, response="toy.models:Things", errors=(404,), params=(LIMIT,)
    )


def test_describe_declares_a_plain_blueprint_view() -> None:
    # Given a non-JSON view declared with describe()
    @describe(auth=False, errors=(404,), media={"text/html": {"type": "string"}})
    def page() -> str:
        """An HTML page

        Rendered by the browser.
        """
        return ""

    # When its declaration is read
    doc: RouteDoc = getattr(page, ATTRIBUTE)

    # Then it is not wrapped (no 400/401/503 added) and keeps its text
    assert (doc.summary, doc.description, doc.wrapped, doc.errors) == (
        "An HTML page",
        "Rendered by the browser.",
        False,
        (404,),
    )
