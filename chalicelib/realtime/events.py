"""Event handlers of the realtime domain: the WebSocket routes and the events-topic subscriber.

WebSocket handlers are declared on the Blueprint. Chalice only wraps ``on_ws_*`` handlers in
its ``WebsocketEvent`` adapter when they are declared on the app itself, so a Blueprint's
handler is registered (and deployed: the Lambda handler string is
``chalicelib.realtime.events.<name>``) as the plain function. These handlers therefore take the
raw API Gateway event ``(event, context)`` and return ``{"statusCode": ...}`` — the same
contract in AWS, in ``chalice.test`` and in the local gateway (``local/ws_gateway.py``).
Chalice applies no middleware to them either: ``websocket_handler`` runs each through the app's
one middleware (``chalicelib.core.middleware``: log context, correlation id, errors, metrics).

Frames to sockets never go through ``app.websocket_api``: ``chalicelib.realtime.dal`` posts to
the ``@connections`` endpoint, ``WEBSOCKET_MANAGEMENT_URL`` when set (locally), otherwise
``https://{domainName}/{stage}`` remembered with each connection.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chalice import Blueprint
from chalice.app import SNSEvent

from chalicelib.core.errors import UnauthorizedError
from chalicelib.core.middleware import websocket_handler
from chalicelib.core.observability import logger, record_event
from chalicelib.core.settings import EVENTS_TOPIC_NAME

bp = Blueprint(__name__)

WsEvent = Mapping[str, Any]
_OK = {"statusCode": 200}


def _connection_id(event: WsEvent) -> str:
    connection_id = (event.get("requestContext") or {}).get("connectionId")
    if not isinstance(connection_id, str) or not connection_id:
        raise UnauthorizedError("The event has no connection id.")
    return connection_id


@bp.on_ws_connect(name="realtime_connect")
@websocket_handler
def realtime_connect(event: WsEvent, context: Any) -> dict[str, Any]:
    """``$connect``: verify ``?token=`` (an access token); store the connection under the user
    until the token's ``exp`` (at most 2 h) or refuse (401)."""
    from chalicelib.core.auth import verifier
    from chalicelib.core.clock import now_ms
    from chalicelib.core.deleted import ActiveUserVerifier
    from chalicelib.realtime import dal, logic

    request_context = event.get("requestContext") or {}
    query = event.get("queryStringParameters") or {}
    endpoint = f"https://{request_context.get('domainName', '')}/{request_context.get('stage', '')}"
    connection = logic.connect(
        query.get("token"),
        _connection_id(event),
        endpoint,
        verifier=ActiveUserVerifier(verifier()),
        store=dal.connection_store(),
        now=now_ms() // 1000,
    )
    record_event("realtime_connected")
    logger.info("websocket connected", extra={"user_id": connection.user_id})
    _socket_presence(connection.user_id, +1)
    return _OK


def _socket_presence(user_id: str, delta: int) -> None:
    """Presence ("active now") while a socket is open (best effort: never refuses or fails the socket)."""
    from chalicelib.core.clock import now_ms
    from chalicelib.social.graph import graph

    try:
        graph().socket_changed(user_id, now_ms(), delta)
    except Exception as err:
        logger.warning("presence not recorded", extra={"error": repr(err)})


@bp.on_ws_disconnect(name="realtime_disconnect")
@websocket_handler
def realtime_disconnect(event: WsEvent, context: Any) -> dict[str, Any]:
    """``$disconnect``: forget the connection."""
    from chalicelib.realtime import dal, logic

    gone = logic.disconnect(_connection_id(event), store=dal.connection_store())
    if gone is not None:
        _socket_presence(gone.user_id, -1)
    return _OK


@bp.on_ws_message(name="realtime_message")
@websocket_handler
def realtime_message(event: WsEvent, context: Any) -> dict[str, Any]:
    """``$default``: ``ping`` → ``pong``; ``typing`` → relayed to the other members."""
    import base64

    from chalicelib.core.clock import now_ms
    from chalicelib.realtime import dal, logic
    from chalicelib.social.graph import graph

    body: str | bytes | None = event.get("body")
    if event.get("isBase64Encoded") and isinstance(body, str):
        body = base64.b64decode(body)
    report = logic.handle_client_frame(
        _connection_id(event),
        body,
        store=dal.connection_store(),
        members=dal.member_directory(),
        throttle=dal.typing_throttle(),
        blocks=graph(),
        sender=dal.frame_sender(),
        now_ms=now_ms(),
    )
    if report.gone:
        record_event("realtime_stale_connections_removed", len(report.gone))
    if report.expired:
        record_event("realtime_expired_connections_closed", len(report.expired))
    return _OK


@bp.on_sns_message(topic=EVENTS_TOPIC_NAME, name="realtime_deliver")
def realtime_deliver(event: SNSEvent) -> None:
    """Outbox events → frames on the recipients' open sockets (best-effort)."""
    from pydantic import ValidationError as PydanticValidationError

    from chalicelib.core.clock import now_ms
    from chalicelib.core.event_bodies import EventBodyGoneError, event_from_message
    from chalicelib.realtime import dal, logic
    from chalicelib.social.graph import graph

    records = event.to_dict().get("Records") or []
    for record in records:
        try:
            # Inline or claim-checked (a body over 256 KiB is read from S3).
            domain_event = event_from_message(record["Sns"]["Message"])
        except (PydanticValidationError, ValueError, KeyError, TypeError, EventBodyGoneError):
            logger.warning("ignoring a malformed event on the events topic")
            continue
        report = logic.deliver_event(
            domain_event,
            store=dal.connection_store(),
            sender=dal.frame_sender(),
            blocks=graph(),
            now=now_ms() // 1000,
        )
        if report.sent:
            record_event("realtime_frames_delivered", report.sent)
        if report.gone:
            record_event("realtime_stale_connections_removed", len(report.gone))
        if report.expired:
            record_event("realtime_expired_connections_closed", len(report.expired))
        if report.failed:
            logger.warning(
                "frames not delivered",
                extra={"event_id": domain_event.event_id, "connections": report.failed},
            )


@bp.schedule("rate(1 minute)", name="realtime_sweep_expired")
def realtime_sweep_expired(event: Any) -> dict[str, int]:
    """Every minute: close idle connections whose token expired (delivery closes busy ones)."""
    from chalicelib.core.clock import now_ms
    from chalicelib.realtime import dal, logic

    report = logic.sweep_expired(dal.connection_store(), dal.frame_sender(), now_ms() // 1000)
    if report.expired:
        logger.info("closed expired connections", extra={"count": len(report.expired)})
        record_event("realtime_expired_connections_closed", len(report.expired))
    if report.failed:
        logger.warning("expired connections not closed", extra={"connections": report.failed})
    return {"closed": len(report.expired), "failed": len(report.failed)}
