"""Run a collection session: load the study's pictures, open the trials file, bind the
address and serve the app with uvicorn until Ctrl-C or SIGTERM.

It binds to the loopback address unless told otherwise; any other address (``0.0.0.0``
above all) reaches other machines, so it needs a session token in the URL, printed once.
"""

from __future__ import annotations

import ipaddress
import secrets
import socket
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote

from reportgen.collect.app import create_app
from reportgen.collect.order import check_subset
from reportgen.collect.pictures import load_pictures
from reportgen.collect.session import Sessions
from reportgen.collect.store import TrialStore, check_trials_file, observer_problem
from reportgen.config import CollectConfig, Config
from reportgen.errors import ReportgenError

#: Host names a loopback server answers to (a DNS-rebinding page uses its own name).
LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})


@dataclass(frozen=True, slots=True)
class Started:
    """What the command line tells the user once the server listens."""

    url: str  # the address to open (with the observer and token, when there are any)
    trials: str  # the trials file
    exposed: bool  # bound to an address other machines can reach
    resumed: int  # observers with answers already in the file


def is_loopback(host: str) -> bool:
    """True for an address only this machine can reach (127.x, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def collect_settings(config: Config) -> CollectConfig:
    """``[collect]`` as read, or its defaults for a config built without one."""
    if config.collect is not None:
        return config.collect
    if config.humans is not None:
        trials = config.humans.responses
    else:
        trials = config.path.parent / f"{config.path.stem}-trials.csv"
    return CollectConfig(trials=trials)


def serve_collection(
    config: Config,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    observer: str | None = None,
    lang: str | None = None,
    on_start: Callable[[Started], None] = lambda started: None,
) -> None:
    """Serve the study's collection session until interrupted.

    Parameters
    ----------
    host, port : where to listen; port 0 picks a free one (the URL says which).
    observer : str, optional
        Put this observer's session in the printed URL.
    lang : {'en', 'ja'}, optional
        The page's language; default the report's (``[report] language``).
    on_start : called once the server listens, before the first request.

    Raises
    ------
    ReportgenError
        A bad observer id, an unusable trials file or subset, or an address that cannot be
        bound, each in one line naming what is at fault.
    """
    if observer is not None and (why := observer_problem(observer)) is not None:
        raise ReportgenError(f"--observer: {why}; got {observer!r}")
    lang = lang or config.report.language
    settings = collect_settings(config)
    check_trials_file(settings.trials)  # before the pictures, which may take a while to draw
    pictures = load_pictures(config)
    check_subset(pictures.conditions, settings.per_condition, str(config.path))
    if not 0 <= port <= 65535:
        raise ReportgenError(f"--port: must be 0 to 65535, got {port}")
    exposed = not is_loopback(host)
    token = secrets.token_urlsafe(18) if exposed else None
    sock = _bind(host, port)
    store = TrialStore(settings.trials, set(pictures.ids), set(pictures.classes))
    try:
        sessions = Sessions(pictures, settings, store)
        names = config.labels.get(lang, {}).get("classes", {})
        app = create_app(
            sessions,
            lang=lang,
            class_names=names,
            token=token,
            allowed_hosts=None if exposed else LOOPBACK_NAMES | {host},
        )
        bound_host, bound_port = sock.getsockname()[:2]
        # the address actually bound ('localhost' may resolve to ::1); 0.0.0.0 as given
        shown_host = host if exposed else bound_host
        if ":" in shown_host:
            shown_host = f"[{shown_host.strip('[]')}]"
        query = []
        if observer is not None:
            query.append(f"observer={quote(observer)}")
        if token is not None:
            query.append(f"token={token}")
        url = f"http://{shown_host}:{bound_port}/" + ("?" + "&".join(query) if query else "")
        on_start(Started(url, str(settings.trials), exposed, len(store.observers())))
        _run(app, sock)
    finally:
        store.close()
        sock.close()


def _bind(host: str, port: int) -> socket.socket:
    """A listening socket, bound here so that a busy port is one clear line."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as err:
        raise ReportgenError(f"--host: cannot resolve {host!r} ({err.strerror})") from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
        sock.listen(128)
    except OSError as err:
        sock.close()
        raise ReportgenError(
            f"--port: cannot listen on {host}:{port} ({err.strerror}); is another server "
            "using it? Pick another with --port"
        ) from None
    sock.set_inheritable(True)
    return sock


def _run(app, sock: socket.socket) -> None:
    import uvicorn

    server = uvicorn.Server(
        uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False)
    )
    server.run(sockets=[sock])


__all__ = ["Started", "collect_settings", "is_loopback", "serve_collection"]
