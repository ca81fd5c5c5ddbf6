"""A loopback stand-in of the YouTube Data API v3 endpoints the YouTube destination uses, driven by the real
google-api-python-client and google-auth.

It serves TLS (the client library keeps ``https`` for its upload URLs when the endpoint is overridden) with a
certificate made for 127.0.0.1; ``ca_file`` is what a client trusts. It implements:

- ``POST /token``: a refresh-token grant (``invalid_grant`` for a revoked token) and an authorization-code grant;
  ``GET /auth``: the consent page, answered by redirecting to the client's ``redirect_uri`` with a code;
- resumable uploads (``POST /upload/youtube/v3/videos?uploadType=resumable`` opens a session, ``PUT`` its URI with
  ``Content-Range: bytes A-B/SIZE`` adds bytes, ``bytes */SIZE`` asks what arrived: 308 with ``Range``, or the
  video once complete); a video is made only when its last byte arrives;
- ``thumbnails.set``, ``playlistItems.list`` and ``playlistItems.insert``;
- failures on demand: ``fail(path_part, status, reason)`` answers the next matching call with the API's error body
  (401 ``authError``, 403 ``quotaExceeded``, 500 ``backendError``); ``revoke(token)``; ``slow_chunks_s``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import json
import re
import secrets
import ssl
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from pipeline.publish.youtube import YouTubeAccount


def make_certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and localhost (its own CA) and its key: (cert.pem, key.pem)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "youtube stand-in")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "standin-cert.pem", folder / "standin-key.pem"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_file, key_file


@dataclass
class Session:
    metadata: dict[str, Any]
    size: int
    data: bytearray = field(default_factory=bytearray)
    video_id: str | None = None


@dataclass
class YouTubeStandIn:
    server: HTTPServer
    ca_file: Path
    client_id: str = "client-1.apps.example"
    client_secret: str = "client-secret-1"
    refresh_token: str = "refresh-1"
    videos: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> resource (+ "sha256", "size")
    sessions: dict[str, Session] = field(default_factory=dict)
    thumbnails: dict[str, bytes] = field(default_factory=dict)
    playlist_items: list[dict[str, Any]] = field(default_factory=list)
    calls: list[tuple[str, str]] = field(default_factory=list)  # (method, path) of each API call
    slow_chunks_s: float = 0.0  # wait this long before taking each upload chunk
    received_chunks: int = 0
    _revoked: set[str] = field(default_factory=set)
    _tokens: set[str] = field(default_factory=set)
    _codes: dict[str, str] = field(default_factory=dict)  # code -> the scopes granted with it
    _failures: list[tuple[str, int, str]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return self.server.url_for("").rstrip("/")

    def account(self, **changes: Any) -> YouTubeAccount:
        """The grant a connected channel holds for this stand-in."""
        values = {
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "refresh_token": self.refresh_token,
            "token_uri": f"{self.url}/token",
            "api_endpoint": f"{self.url}/",
            "ca_certs": str(self.ca_file),
        }
        return YouTubeAccount(**{**values, **changes})

    def connection_uri(self, **changes: Any) -> str:
        """The Airflow connection (JSON) that holds ``account()``."""
        grant = self.account(**changes)
        extra = grant.model_dump(exclude={"client_id", "client_secret"})
        return json.dumps(
            {"conn_type": "generic", "login": grant.client_id, "password": grant.client_secret, "extra": extra}
        )

    def client_secrets(self, dest: Path) -> Path:
        """An OAuth client file (as Google's console downloads it) pointing at this stand-in."""
        dest.write_text(
            json.dumps(
                {
                    "installed": {
                        "client_id": self.client_id,
                        "client_secret": self.client_secret,
                        "auth_uri": f"{self.url}/auth",
                        "token_uri": f"{self.url}/token",
                        "redirect_uris": ["http://localhost"],
                    }
                }
            )
        )
        return dest

    def revoke(self, refresh_token: str) -> None:
        self._revoked.add(refresh_token)

    def fail(self, path_part: str, status: int, reason: str) -> None:
        """Answer the next call whose path contains ``path_part`` with ``status`` and the API's ``reason``."""
        with self._lock:
            self._failures.append((path_part, status, reason))

    def install(self) -> YouTubeStandIn:
        self.server.expect_request(re.compile(r"^/.*")).respond_with_handler(self)
        return self

    # --- the endpoints ------------------------------------------------------------------------------------------

    def __call__(self, request: Request) -> Response:
        path = request.path
        if path in {"/token", "/auth"}:
            return self._token(request) if path == "/token" else self._consent(request)
        if path != "/standin/videos":
            self.calls.append((request.method, path))
        if (
            path != "/standin/videos"
            and request.headers.get("Authorization", "").removeprefix("Bearer ") not in self._tokens
        ):
            return _error(401, "authError", "Request had invalid authentication credentials.")
        routes = {
            ("POST", "/upload/youtube/v3/videos"): self._open_session,
            ("PUT", "/upload/youtube/v3/videos"): self._chunk,
            ("POST", "/upload/youtube/v3/thumbnails/set"): self._thumbnail,
            ("GET", "/youtube/v3/playlistItems"): self._list_items,
            ("POST", "/youtube/v3/playlistItems"): self._insert_item,
        }
        if path == "/standin/videos":  # what a person trying it by hand looks at: the videos and their bytes
            return _json([{**v, "thumbnail": v["id"] in self.thumbnails} for v in self.videos.values()])
        route = routes.get((request.method, path))
        if route is None:
            return _error(404, "notFound", f"the stand-in has no {request.method} {path}")
        return self._planned(path) or route(request)

    def _thumbnail(self, request: Request) -> Response:
        video_id = request.args["videoId"]
        if video_id not in self.videos:
            return _error(404, "videoNotFound", "The video that you are trying to update cannot be found.")
        self.thumbnails[video_id] = request.get_data()
        return _json({"kind": "youtube#thumbnailSetResponse", "items": [{"default": {"url": "https://i/1.jpg"}}]})

    def _list_items(self, request: Request) -> Response:
        found = [
            item
            for item in self.playlist_items
            if item["snippet"]["playlistId"] == request.args["playlistId"]
            and item["snippet"]["resourceId"]["videoId"] == request.args.get("videoId")
        ]
        return _json({"kind": "youtube#playlistItemListResponse", "items": found})

    def _insert_item(self, request: Request) -> Response:
        item = json.loads(request.get_data())
        item["id"] = f"item-{len(self.playlist_items) + 1}"
        self.playlist_items.append(item)
        return _json(item)

    def _token(self, request: Request) -> Response:
        form = request.form
        basic = request.authorization  # a client may send its id and secret by HTTP Basic instead
        client = (basic.username, basic.password) if basic else (form.get("client_id"), form.get("client_secret"))
        if client != (self.client_id, self.client_secret):
            return _json({"error": "invalid_client", "error_description": "The OAuth client was not found."}, 401)
        if form.get("grant_type") == "authorization_code":
            if form.get("code") not in self._codes:
                return _json({"error": "invalid_grant", "error_description": "Malformed auth code."}, 400)
            refresh = self.refresh_token
            scope = self._codes.pop(str(form["code"]))
        elif form.get("grant_type") == "refresh_token" and form.get("refresh_token") not in self._revoked:
            refresh, scope = None, form.get("scope", "")
        else:
            return _json({"error": "invalid_grant", "error_description": "Token has been expired or revoked."}, 400)
        token = f"access-{secrets.token_hex(8)}"
        self._tokens.add(token)
        answer = {"access_token": token, "expires_in": 3599, "token_type": "Bearer", "scope": scope}
        if refresh:
            answer["refresh_token"] = refresh
        return _json(answer)

    def _consent(self, request: Request) -> Response:
        """The person says yes: back to the client's redirect URI with a code and its state."""
        code = f"code-{secrets.token_hex(6)}"
        self._codes[code] = request.args.get("scope", "")
        query = urllib.parse.urlencode({"code": code, "state": request.args.get("state", "")})
        return Response(status=302, headers={"Location": f"{request.args['redirect_uri']}?{query}"})

    def _open_session(self, request: Request) -> Response:
        metadata = json.loads(request.get_data() or b"{}")
        problem = _refused(metadata)
        if problem:
            return _error(400, *problem)
        upload_id = secrets.token_hex(8)
        self.sessions[upload_id] = Session(metadata, int(request.headers.get("X-Upload-Content-Length", "0")))
        location = f"{self.url}/upload/youtube/v3/videos?uploadType=resumable&upload_id={upload_id}"
        return Response(status=200, headers={"Location": location})

    def _chunk(self, request: Request) -> Response:
        session = self.sessions.get(request.args.get("upload_id", ""))
        if session is None:
            return _error(404, "notFound", "The upload session does not exist.")
        said = request.headers.get("Content-Range", "")
        body = request.get_data()
        if body:
            if self.slow_chunks_s:
                time.sleep(self.slow_chunks_s)
            first = int(said.split(" ")[1].split("-")[0])
            if first > len(session.data):
                return _error(400, "badRequest", f"a chunk from byte {first}; {len(session.data)} received")
            session.data[first:] = body  # an overlap is taken again, as the real service does
            self.received_chunks += 1
        if len(session.data) < session.size:
            headers = {"Range": f"bytes=0-{len(session.data) - 1}"} if session.data else {}
            return Response(status=308, headers=headers)
        if session.video_id is None:
            session.video_id = f"vid{len(self.videos) + 1:04d}"
            self.videos[session.video_id] = {
                "kind": "youtube#video",
                "id": session.video_id,
                **session.metadata,
                "sha256": hashlib.sha256(session.data).hexdigest(),
                "size": len(session.data),
            }
        resource = {k: v for k, v in self.videos[session.video_id].items() if k not in {"sha256", "size"}}
        return _json(resource)

    def _planned(self, path: str) -> Response | None:
        with self._lock:
            for i, (part, status, reason) in enumerate(self._failures):
                if part in path:
                    del self._failures[i]
                    return _error(status, reason, f"the stand-in says {reason}")
        return None


def _refused(metadata: dict[str, Any]) -> tuple[str, str] | None:
    """What YouTube refuses in a new video's resource: (reason, message)."""
    snippet, status = metadata.get("snippet", {}), metadata.get("status", {})
    title = snippet.get("title", "")
    if not title or len(title) > 100 or "<" in title or ">" in title:
        return "invalidTitle", "The request metadata specifies an invalid video title."
    if "selfDeclaredMadeForKids" not in status:
        return "madeForKidsRequired", "The 'made for kids' question is not answered."
    if status.get("publishAt") and status.get("privacyStatus") != "private":
        return "invalidPublishAt", "publishAt needs privacyStatus private."
    return None


def _json(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body), status=status, content_type="application/json")


def _error(status: int, reason: str, message: str) -> Response:
    domain = "youtube.quota" if reason == "quotaExceeded" else "global"
    body = {
        "error": {
            "code": status,
            "message": message,
            "errors": [{"message": message, "domain": domain, "reason": reason}],
        }
    }
    return _json(body, status)


def serve(folder: Path) -> YouTubeStandIn:
    """A started stand-in on a free loopback port (stop it with ``stand_in.server.stop()``)."""
    cert, key = make_certificate(folder)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server = HTTPServer(host="127.0.0.1", port=0, ssl_context=context)
    server.start()
    return YouTubeStandIn(server, cert).install()


def main() -> None:
    """By hand: ``python -m tests.youtube_standin DIR [PORT]`` serves the stand-in until Ctrl-C and says how to
    connect a channel to it (docs/publishing.md, "Trying it offline")."""
    import sys

    folder = Path(sys.argv[1] if len(sys.argv) > 1 else ".").resolve()
    folder.mkdir(parents=True, exist_ok=True)
    cert, key = make_certificate(folder)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server = HTTPServer(host="127.0.0.1", port=int(sys.argv[2]) if len(sys.argv) > 2 else 0, ssl_context=context)
    server.start()
    stand_in = YouTubeStandIn(server, cert).install()
    secrets_file = stand_in.client_secrets(folder / "client_secret.json")
    print(f"YouTube stand-in on {stand_in.url} (videos: {stand_in.url}/standin/videos)")
    print(
        f"connect a channel: videoctl channel connect CHANNEL --not-made-for-kids --client-secrets {secrets_file} "
        f"--refresh-token {stand_in.refresh_token} --api-endpoint {stand_in.url}/ --ca-certs {cert}",
        flush=True,
    )
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()
