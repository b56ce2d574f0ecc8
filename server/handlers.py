"""The versioned HTTP API (``<prefix>api/v1/...``) and its WebSocket of events.

Handlers are thin: they authenticate, parse, call the dispatcher or the
store, and answer JSON. Every error is ``{"error": message}`` with a 4xx/5xx.
"""

from __future__ import annotations

import asyncio
import inspect
import json
from typing import Any, Callable, TypeVar

import tornado.web
import tornado.websocket

from covalent_nb import __version__
from covalent_nb._frames import pack
from covalent_nb._status import TERMINAL, Status

from . import access
from .access import Identity
from .blobs import GRACE_SECONDS, BlobUpload, InvalidBlobKey, check_key
from .cleanup import DispatchBusy, DispatchGone
from .dispatcher import DispatchNotFound, ManifestError
from .json_body import JsonBodyError, parse_json
from .query_args import (QueryArgError, make_cursor, parse_cursor, parse_flag, parse_limit, parse_search,
                         parse_seconds, parse_statuses, parse_user_name)
from .idempotency import HEADER as IDEMPOTENCY_HEADER, IdempotencyConflict, check_header, find_replay, request_digest
from .views import dispatch_view_text, node_statuses

__all__ = ["api_handlers"]

MAX_WAIT_SECONDS = 60.0
MAX_BATCH_KEYS = 1000
"""Payload keys one ``POST dispatches/{id}/payloads`` may ask for."""
BATCH_BYTES = 32 * 1024 * 1024
"""Bytes of payloads one batch answer carries at most; the rest are named under ``omitted``."""
T = TypeVar("T")


class _Auth:
    """Authentication shared by the JSON and WebSocket handlers.

    ``authenticate(handler)`` (sync or async) returns the caller as an
    :class:`~covalent_nb.server.access.Identity` (or a plain user name: a
    one-person host's user), or None; hosts plug in their own (a token here,
    Jupyter's identity provider and authorizer in the Jupyter extension).
    What the caller may do is decided in server/access.py alone.
    """

    #: The status for a request that is not authenticated (Jupyter answers 403), and what it says.
    unauthenticated_status = 401
    unauthenticated_message = ("missing or wrong token: send 'Authorization: token <token>' (the server's "
                               "token file, dispatcher.token in the config, or COVALENT_NB_TOKEN)")

    def initialize(self, service: Any, authenticate: Any) -> None:
        self.service = service
        self.authenticate = authenticate
        self.identity: Identity | None = None
        self.owner: str | None = None

    async def _require_user(self) -> None:
        answer = self.authenticate(self)
        if inspect.isawaitable(answer):
            answer = await answer
        self.identity = access.as_identity(answer)
        if self.identity is None:
            status = self.unauthenticated_status
            raise tornado.web.HTTPError(status, reason="missing or wrong token" if status == 401 else "forbidden")
        self.owner = self.identity.name

    def allowed_record(self, dispatch_id: str, action: str = "read") -> dict[str, Any]:
        """The dispatch's record when the caller may ``action`` it (server/access.py): 404 for one it
        may not know of (another user's answers as an unknown one), 403 for a missing scope."""
        assert self.identity is not None
        self.service.dispatcher.flush()
        record = self.service.store.get_dispatch(dispatch_id)
        try:
            access.authorize(self.identity, record, action, dispatch_id)
        except access.Hidden as exc:
            raise tornado.web.HTTPError(404, str(exc), reason="not found") from None
        except access.Refused as exc:
            raise tornado.web.HTTPError(403, str(exc), reason="forbidden") from None
        assert record is not None
        return record

    def allow(self, check: Callable[..., Any], *args: Any) -> Any:
        """``check(self.identity, *args)`` from server/access.py; its Refused answers 403."""
        try:
            return check(self.identity, *args)
        except access.Refused as exc:
            raise tornado.web.HTTPError(403, str(exc), reason="forbidden") from None


class ApiHandler(_Auth, tornado.web.RequestHandler):
    """Base of the JSON handlers."""

    async def prepare(self) -> None:
        await self._require_user()

    def check_xsrf_cookie(self) -> None:  # token auth, no cookies
        return

    def write_json(self, payload: Any, status: int = 200) -> None:
        self.write_json_text(json.dumps(payload, separators=(",", ":")), status)

    def write_json_text(self, text: str, status: int = 200) -> None:
        """Answer with JSON already made (see :meth:`write_json`)."""
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(text)

    async def write_dispatch_view(self, record: dict[str, Any], inline_output: bool) -> None:
        """Answer with the view of a dispatch (server/views.py: a big one without holding the event loop)."""
        self.write_json_text(await dispatch_view_text(self.service.store, record, self.service.dispatcher.pauses,
                                                      inline_output=inline_output))

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        message = self._reason
        exc = kwargs.get("exc_info", (None, None))[1]
        if status_code in (401, 403) and not (isinstance(exc, tornado.web.HTTPError) and exc.log_message):
            message = self.unauthenticated_message
        elif isinstance(exc, tornado.web.HTTPError) and exc.log_message:
            message = exc.log_message
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps({"error": message}))

    def fail(self, status: int, message: str) -> None:
        raise tornado.web.HTTPError(status, message, reason=message.splitlines()[0][:200])

    def owned_record(self, dispatch_id: str, action: str = "read") -> dict[str, Any]:
        """The record of a dispatch the caller may ``action`` (see :meth:`allowed_record`)."""
        return self.allowed_record(dispatch_id, action)

    def payload_key(self, key: Any) -> str:
        """``key`` when it is a payload key; 400 otherwise."""
        try:
            return check_key(key)
        except InvalidBlobKey as exc:
            self.fail(400, str(exc))

    def payload_size(self, dispatch_id: str, key: str) -> int:
        """The size of payload ``key`` of the dispatch; 400 unless it is a key, 404 unless it
        belongs to the dispatch and is stored."""
        self.payload_key(key)
        store = self.service.store
        size = store.blobs.size(key) if store.dispatch_has_blob(dispatch_id, key) else None
        if size is None:
            self.fail(404, f"dispatch {dispatch_id} has no payload {key!r}")
        return size

    def json_body(self) -> Any:
        """The body as JSON (None when empty); 400 unless it is JSON nested at most MAX_DEPTH levels deep."""
        try:
            return parse_json(self.request.body)
        except JsonBodyError as exc:
            self.fail(400, f"the request body is not valid JSON: {exc}")

    def query_arg(self, name: str, parse: Callable[[Any], T], many: bool = False) -> T:
        """Query parameter ``name`` read by ``parse`` (from server/query_args.py; its text, None when
        absent, or with ``many`` the list of every value); 400 saying what it may be when it is wrong."""
        try:
            return parse(self.get_query_arguments(name) if many else self.get_query_argument(name, None))
        except QueryArgError as exc:
            self.fail(400, f"query parameter {name!r} {exc}")


class HealthHandler(ApiHandler):
    """``GET health``: the server is up and the token is right; ``cluster``: its default Dask cluster.
    ``?detail=1`` adds its uptime, work and workers (server/server_info.py)."""

    async def get(self) -> None:
        if self.query_arg("detail", parse_flag):
            from .server_info import server_details

            self.write_json(await server_details(self.service))
            return
        self.write_json({"status": "ok", "version": __version__,
                         "cluster": self.service.dispatcher.clusters.status()})


DRAIN_BYTES = 16 * 1024 * 1024
"""A refused request body up to this size is read and thrown away before the answer goes out.

A client that sends its body without waiting for ``100 Continue`` (urllib,
requests) then reads the answer instead of a reset connection. A larger body,
or one the client has not sent yet because it asked ``Expect: 100-continue``,
is answered at once and the connection closed.
"""


class StreamedBodyHandler(ApiHandler):
    """Base of the handlers that stream their request body in chunks.

    Subclasses check the request in ``begin_body`` and take chunks in
    ``receive``; a refusal from either (or from authentication) is answered
    as described at ``DRAIN_BYTES``.
    """

    refusal: tornado.web.HTTPError | None = None

    async def prepare(self) -> None:
        try:
            await super().prepare()
            self.begin_body()
        except tornado.web.HTTPError as error:
            if not self._can_drain():
                raise
            self.refusal = error
            self.request.connection.set_max_body_size(self.declared_length())
            # Whichever method the request names now answers the refusal, once the body is read.
            setattr(self, self.request.method.lower(), self._answer_refusal)

    def declared_length(self) -> int:
        """The request's ``Content-Length`` (0 when absent)."""
        try:
            length = int(self.request.headers.get("Content-Length", "0") or 0)
        except ValueError:
            self.fail(400, "the Content-Length header is not a number")
        if length < 0:
            self.fail(400, "the Content-Length header is negative")
        return length

    def limit_body(self, what: str) -> int:
        """Refuse (413) a body declared larger than the server's payload limit; return the limit."""
        limit = self.service.settings.max_payload_bytes
        length = self.declared_length()
        if length > limit:
            self.fail(413, f"{what} of {length} bytes is larger than the server's limit of {limit} bytes "
                           "(server.max_payload_mb)")
        self.request.connection.set_max_body_size(limit + 1)
        return limit

    def _can_drain(self) -> bool:
        headers = self.request.headers
        if (self.request.method not in ("PUT", "POST") or "Transfer-Encoding" in headers
                or headers.get("Expect", "").lower() == "100-continue"):
            return False
        try:
            return 0 < self.declared_length() <= DRAIN_BYTES
        except tornado.web.HTTPError:
            return False

    def _answer_refusal(self, *args: Any) -> None:
        assert self.refusal is not None
        raise self.refusal

    def begin_body(self) -> None:
        """Check the request before its body arrives; ``fail`` to refuse it."""

    def receive(self, chunk: bytes) -> None:
        """Take one chunk of the body."""
        raise NotImplementedError

    def data_received(self, chunk: bytes) -> None:
        if self.refusal is None:
            self.receive(chunk)


@tornado.web.stream_request_body
class BlobUploadHandler(StreamedBodyHandler):
    """``PUT blobs/{key}``: a large payload, streamed to disk and checked against its key."""

    upload: BlobUpload | None = None

    def begin_body(self) -> None:
        if self.request.method != "PUT":  # before any temporary file exists
            self.fail(405, f"{self.request.method} is not allowed on blobs/{{key}}: upload with PUT")
        self.allow(access.may_create)
        key = self.payload_key(self.path_args[0])
        self.upload = self.service.store.blobs.begin_upload(key, self.limit_body("payload"))

    def receive(self, chunk: bytes) -> None:
        if self.upload is None:
            return
        try:
            self.upload.write(chunk)
        except ValueError as exc:
            self.upload.abort()
            self.upload = None
            self.fail(413, str(exc))

    def put(self, key: str) -> None:
        upload, self.upload = self.upload, None
        if upload is None:
            return
        try:
            with self.service.store.transaction(durable=True):  # stored, then acknowledged
                upload.finish()
                self.service.store.blobs.hold(self.owner, key)  # the uploader may now name it
        except ValueError as exc:
            self.fail(400, str(exc))
        finally:
            upload.abort()
        self.write_json({"key": key, "size": upload.size}, status=201)

    def on_connection_close(self) -> None:
        self._abort()

    def on_finish(self) -> None:
        self._abort()

    def _abort(self) -> None:
        """Remove the temporary file of an upload that did not finish (refused, cut off)."""
        upload, self.upload = self.upload, None
        if upload is not None:
            upload.abort()


@tornado.web.stream_request_body
class DispatchesHandler(StreamedBodyHandler):
    """``POST dispatches``: create one; ``GET dispatches``: the caller's, newest first
    (an admin's with ``?all=1``: every user's; ``?owner=NAME``: that user's)."""

    def begin_body(self) -> None:
        self._chunks: list[bytes] = []
        self._size = 0
        if self.request.method == "POST":
            self.limit_body("dispatch")

    def receive(self, chunk: bytes) -> None:
        self._size += len(chunk)
        if self._size > self.service.settings.max_payload_bytes:
            self.fail(413, "dispatch larger than the server's payload limit")
        self._chunks.append(chunk)

    async def post(self) -> None:
        self.request.body = b"".join(self._chunks)
        self.allow(access.may_create)
        try:
            key = check_header(self.request.headers.get(IDEMPOTENCY_HEADER))
        except ValueError as exc:
            self.fail(400, str(exc))
        idempotency = None
        pending = self.service.pending_requests
        if key is not None:
            idempotency = (key, request_digest(self.request.body))
            await pending.wait_for(self.owner, key)  # a retry while the first request is being stored
            self.service.dispatcher.flush()
            try:
                replay = find_replay(self.service.store, self.owner, *idempotency)
            except IdempotencyConflict as exc:
                self.fail(422, str(exc))
            if replay is not None:  # a retry of a request already done: its answer again
                self.set_header("Idempotent-Replayed", "true")
                self.write_json({"dispatch_id": replay[0], "warnings": replay[1]}, status=200)
                return
        try:
            with pending.handling(self.owner, key):
                created = await self.service.dispatcher.create_sliced(self.owner, self.request.body,
                                                                      idempotency=idempotency)
        except JsonBodyError as exc:
            self.fail(400, f"the request body is not valid JSON: {exc}")
        except ManifestError as exc:
            self.fail(400, f"{exc.lead}: {exc}")
        except DispatchNotFound as exc:
            self.fail(404, str(exc.args[0]))
        self.write_json({"dispatch_id": created.dispatch_id, "warnings": created.warnings}, status=201)

    def get(self) -> None:
        limit = self.query_arg("limit", parse_limit)
        before = self.query_arg("before", parse_cursor)
        statuses = self.query_arg("status", parse_statuses, many=True)
        search = self.query_arg("search", parse_search)
        count = self.query_arg("count", parse_flag)
        every = self.query_arg("all", parse_flag)
        named = self.query_arg("owner", parse_user_name)
        if every and named is not None:
            self.fail(400, "query parameters 'all' and 'owner' exclude each other: give one")
        whose = self.allow(access.listing_owner, every, named)
        self.service.dispatcher.flush()
        store = self.service.store
        items = store.list_dispatches(whose, limit=limit + 1, before=before, statuses=statuses, search=search)
        more, items = len(items) > limit, items[:limit]
        answer: dict[str, Any] = {"dispatches": items,
                                  "next": make_cursor(items[-1]["created"], items[-1]["id"]) if more else None}
        if count:
            answer["total"] = store.count_dispatches(whose, statuses=statuses, search=search)
        self.write_json(answer)


class DispatchHandler(ApiHandler):
    """``GET dispatches/{id}``: its state (``?status_only=1``: id and status);
    ``DELETE``: remove a finished dispatch with its sub-dispatches and the payloads only it used."""

    def delete(self, dispatch_id: str) -> None:
        record = self.owned_record(dispatch_id, "delete")
        try:
            outcome = self.service.cleaner.delete(record["owner"], dispatch_id)
        except DispatchGone as exc:
            self.fail(404, str(exc.args[0]))
        except DispatchBusy as exc:
            self.fail(409, str(exc))
        self.write_json(outcome)

    async def get(self, dispatch_id: str) -> None:
        status_only = self.query_arg("status_only", parse_flag)
        inline = self.query_arg("inline_output", parse_flag)
        record = self.owned_record(dispatch_id)
        if status_only:
            self.write_json({"id": dispatch_id, "status": record["status"]})
            return
        await self.write_dispatch_view(record, inline)


class WaitHandler(ApiHandler):
    """``GET dispatches/{id}/wait?timeout=S``: long-poll until the dispatch ends."""

    async def get(self, dispatch_id: str) -> None:
        timeout = self.query_arg("timeout", lambda text: parse_seconds(text, 30.0, MAX_WAIT_SECONDS))
        inline = self.query_arg("inline_output", lambda text: parse_flag(text, True))
        record = self.owned_record(dispatch_id)
        if Status(record["status"]) not in TERMINAL:
            waiter = self.service.hub.wait_terminal(dispatch_id)
            try:
                await asyncio.wait_for(waiter, timeout)
            except asyncio.TimeoutError:
                pass
            record = self.owned_record(dispatch_id)
        await self.write_dispatch_view(record, inline)


class CancelHandler(ApiHandler):
    """``POST dispatches/{id}/cancel`` with ``{"task_ids": [...] or null}``."""

    def post(self, dispatch_id: str) -> None:
        record = self.owned_record(dispatch_id, "cancel")
        body = self.json_body() or {}
        task_ids = body.get("task_ids") if isinstance(body, dict) else None
        if task_ids is not None and not (isinstance(task_ids, list) and all(type(t) is int for t in task_ids)):
            self.fail(400, "task_ids must be a list of integer node ids")
        try:
            outcome = self.service.dispatcher.cancel(record["owner"], dispatch_id, task_ids)
        except ManifestError as exc:
            self.fail(400, str(exc))
        self.write_json(outcome)


class DispatchBlobHandler(ApiHandler):
    """``GET dispatches/{id}/blobs/{key}``: a payload of that dispatch, streamed."""

    async def get(self, dispatch_id: str, key: str) -> None:
        self.owned_record(dispatch_id)
        store = self.service.store
        self.payload_size(dispatch_id, key)
        self.set_header("Content-Type", "application/octet-stream")
        for chunk in store.blobs.iter_chunks(key):
            self.write(chunk)
            await self.flush()
        self.finish()


class DispatchPayloadsHandler(ApiHandler):
    """``POST dispatches/{id}/payloads`` with ``{"keys": [...]}``: many payloads in one answer.

    The answer is a binary frame (:mod:`covalent_nb._frames`): its metadata
    lists the ``keys`` it carries and the ``omitted`` ones that did not fit in
    :data:`BATCH_BYTES` (to be fetched one by one); its blobs are the
    payloads by key. Every key must belong to the dispatch.
    """

    def post(self, dispatch_id: str) -> None:
        self.owned_record(dispatch_id)
        body = self.json_body()
        keys = body.get("keys") if isinstance(body, dict) else None
        if not (isinstance(keys, list) and all(isinstance(k, str) for k in keys)):
            self.fail(400, 'the body must be {"keys": [payload key, ...]}')
        if len(keys) > MAX_BATCH_KEYS:
            self.fail(400, f"{len(keys)} keys asked for at once; at most {MAX_BATCH_KEYS}")
        for key in keys:
            self.payload_key(key)
        sizes = {key: self.payload_size(dispatch_id, key) for key in dict.fromkeys(keys)}
        store = self.service.store
        carried: dict[str, bytes] = {}
        omitted: list[str] = []
        total = 0
        for key, size in sizes.items():
            if total + size > BATCH_BYTES:
                omitted.append(key)
                continue
            carried[key] = store.blobs.get(key)
            total += size
        self.set_header("Content-Type", "application/octet-stream")
        self.finish(pack({"keys": list(carried), "omitted": omitted}, carried))


class GarbageHandler(ApiHandler):
    """``POST gc`` with ``{"grace_seconds": S}`` (optional): remove payloads no dispatch names,
    stored more than S seconds ago (default an hour), and leftover temporary files. Admin only:
    the payloads are every user's."""

    async def post(self) -> None:
        self.allow(access.may_collect_garbage)
        body = self.json_body() or {}
        grace = body.get("grace_seconds", GRACE_SECONDS) if isinstance(body, dict) else None
        if isinstance(grace, bool) or not isinstance(grace, (int, float)) or not 0 <= grace < float("inf"):
            self.fail(400, 'the body must be {"grace_seconds": a number >= 0} or empty')
        self.write_json(await self.service.cleaner.collect_garbage(float(grace)))


class UnknownRouteHandler(ApiHandler):
    """Any other path under the API (the last route): a JSON 404 naming it, for every method."""

    async def prepare(self) -> None:
        await super().prepare()
        path = self.request.path if len(self.request.path) <= 200 else self.request.path[:197] + "..."
        self.fail(404, f"{self.request.method} {path}: the API has no such route")


class EventsHandler(_Auth, tornado.websocket.WebSocketHandler):
    """``GET events?dispatch_id=...``: a WebSocket of status events (all of the caller's without an id;
    an admin's with ``?all=1``: every user's)."""

    async def prepare(self) -> None:
        await self._require_user()
        self.dispatch_id = self.get_query_argument("dispatch_id", None)
        try:
            self.every_owner = parse_flag(self.get_query_argument("all", None))
        except QueryArgError as exc:
            raise tornado.web.HTTPError(400, reason=f"query parameter 'all' {exc}"[:200]) from None
        if self.dispatch_id:
            self.allowed_record(self.dispatch_id, "read")
        else:
            self.allow(access.event_stream, self.every_owner)

    def check_origin(self, origin: str) -> bool:  # the token, not the origin, authorizes
        return True

    async def open(self) -> None:
        """Subscribe; with a dispatch id, send its snapshot first (its tasks read a page at a time: the
        events that come meanwhile are held, then sent after it, in order)."""
        self._held: list[dict[str, Any]] | None = [] if self.dispatch_id else None
        assert self.identity is not None
        self._unsubscribe = self.service.hub.subscribe(self._send, identity=self.identity,
                                                       dispatch_id=self.dispatch_id, every_owner=self.every_owner)
        if self.dispatch_id:
            record = self.service.store.get_dispatch(self.dispatch_id)
            nodes = await node_statuses(self.service.store, self.dispatch_id)
            if record is not None and self.ws_connection is not None:
                self.write_message(json.dumps({"type": "snapshot", "dispatch_id": self.dispatch_id,
                                               "status": record["status"], "nodes": nodes}))
            held, self._held = self._held or [], None
            for event in held:
                self._send(event)

    def _send(self, event: dict[str, Any]) -> None:
        if self._held is not None:
            self._held.append(event)
            return
        public = {k: v for k, v in event.items() if k != "owner"}
        try:
            self.write_message(json.dumps(public))
        except tornado.websocket.WebSocketClosedError:
            self._unsubscribe()

    def on_close(self) -> None:
        unsubscribe = getattr(self, "_unsubscribe", None)
        if unsubscribe is not None:
            unsubscribe()


def api_handlers(prefix: str, service: Any, authenticate: Any) -> list[tuple[str, type, dict[str, Any]]]:
    """The URL routes of the API under ``prefix`` (which ends with '/')."""
    base = f"{prefix}api/v1/"
    kwargs = {"service": service, "authenticate": authenticate}
    dispatch = r"dispatches/([^/]{1,200})"
    from .executors_api import ExecutorsHandler  # these import this module: import them here, not at the top
    from .graph_api import GraphHandler
    from .node_api import NodeHandler
    routes = [
        ("health", HealthHandler),
        ("executors", ExecutorsHandler),
        (r"blobs/([^/]+)", BlobUploadHandler),
        ("dispatches", DispatchesHandler),
        (dispatch, DispatchHandler),
        (dispatch + "/wait", WaitHandler),
        (dispatch + "/cancel", CancelHandler),
        (dispatch + r"/blobs/([^/]+)", DispatchBlobHandler),
        (dispatch + "/payloads", DispatchPayloadsHandler),
        (dispatch + r"/nodes/(\d{1,30})", NodeHandler),
        (dispatch + "/graph.svg", GraphHandler),
        ("gc", GarbageHandler),
        ("events", EventsHandler),
        (".*", UnknownRouteHandler),  # last: every other path
    ]
    return [(base + path, handler, kwargs) for path, handler in routes]
