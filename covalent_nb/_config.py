"""The covalent-nb config file, the server's state directory and the dispatcher address.

The config file is TOML at ``$COVALENT_NB_CONFIG_DIR/covalent.conf`` (default
``~/.config/covalent_nb/covalent.conf``); a missing or empty file means the
defaults in :data:`DEFAULTS`. Keys are addressed with dots:
``get_config("dispatcher.port")``, ``set_config({"dispatcher.port": 48009})``.

The server keeps its state (pid, token, log, database, blobs) in
:func:`data_dir`: ``$COVALENT_NB_DATA_DIR``, else ``server.data_dir`` from the
config, else ``~/.local/share/covalent_nb``.
"""

from __future__ import annotations

import copy
import dataclasses
import os
import re
import tempfile
import tomllib
import warnings
from pathlib import Path
from typing import Any

import tomli_w

from covalent_nb._suggest import choices_hint, did_you_mean
from covalent_nb.errors import ConfigError

__all__ = [
    "DEFAULTS",
    "ServerStatePaths",
    "client_token",
    "config_path",
    "data_dir",
    "dispatcher_address",
    "dispatcher_url",
    "get_config",
    "is_set_in_file",
    "is_set_in_process",
    "url_host",
    "parse_address",
    "reload_config",
    "server_state_paths",
    "set_config",
    "token_path",
]

CONFIG_DIR_ENV = "COVALENT_NB_CONFIG_DIR"
DATA_DIR_ENV = "COVALENT_NB_DATA_DIR"
TOKEN_ENV = "COVALENT_NB_TOKEN"
CONFIG_FILE_NAME = "covalent.conf"

DEFAULTS: dict[str, Any] = {
    "dispatcher": {"address": "localhost", "port": 48008, "token": ""},
    "server": {"workers": 0, "max_payload_mb": 512, "data_dir": "", "cluster_start": "eager",
               "cluster_idle_minutes": 30.0, "keep_days": 0.0, "session_days": 7.0},
    "dask": {"scheduler_address": "", "tls_ca_file": "", "tls_client_cert": "", "tls_client_key": ""},
    "executors": {},
}
"""The configuration when the config file says nothing (``workers = 0``: one per core;
``cluster_start``: "eager" or "lazy"; ``cluster_idle_minutes = 0``: never close the idle cluster;
``keep_days = 0``: keep finished dispatches until deleted, else delete them that many days after they end;
``session_days``: how long a login to the standalone server's web UI lasts)."""

_ADDRESS_EXAMPLE = 'e.g. "localhost:48008", "http://10.0.0.5:48008" or "[::1]:48008"'
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
_BRACKETED = re.compile(r"^\[([^\[\]]+)\](?::(.*))?$")

# (config file path, (mtime_ns, size) or None when missing, merged config)
# (path, file stamp, merged config, the file's own content), re-read when the file changes
_cache: tuple[Path, tuple[int, int] | None, dict[str, Any], dict[str, Any]] | None = None

# The dotted keys set_config wrote in this process, per config file: what this process chose
# itself (see is_set_in_process), as opposed to what the file says for every process.
_set_here: dict[Path, set[str]] = {}


# ---------------------------------------------------------------- locations


def config_path() -> Path:
    """The config file: ``$COVALENT_NB_CONFIG_DIR/covalent.conf``, else under ``~/.config``."""
    directory = os.environ.get(CONFIG_DIR_ENV)
    if directory:
        return Path(directory).expanduser().absolute() / CONFIG_FILE_NAME
    base = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(base).expanduser().absolute() / "covalent_nb" / CONFIG_FILE_NAME


def data_dir() -> Path:
    """The server's state directory (env ``COVALENT_NB_DATA_DIR``, config ``server.data_dir``, default)."""
    directory = os.environ.get(DATA_DIR_ENV) or get_config("server.data_dir")
    if directory:
        return Path(str(directory)).expanduser().absolute()
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base).expanduser().absolute() / "covalent_nb"


@dataclasses.dataclass(frozen=True)
class ServerStatePaths:
    """The files a dispatcher server keeps in its data directory."""

    root: Path
    pid_file: Path
    """``server.pid``: the server's process id, written by the server."""
    info_file: Path
    """``server.json``: ``{"pid", "url", "address", "port"}``, written by the server."""
    log_file: Path
    """``server.log``: the server's output when started by ``covalent-nb start``."""
    token_file: Path
    """``server.token``: the API token (mode 0600)."""
    results_db: Path
    """``results.db``: the SQLite result store."""
    blobs_dir: Path
    """``blobs/``: the content-addressed payload store."""


def server_state_paths(root: Path | None = None) -> ServerStatePaths:
    """The state files under ``root`` (default: :func:`data_dir`)."""
    base = Path(root) if root is not None else data_dir()
    return ServerStatePaths(
        root=base,
        pid_file=base / "server.pid",
        info_file=base / "server.json",
        log_file=base / "server.log",
        token_file=base / "server.token",
        results_db=base / "results.db",
        blobs_dir=base / "blobs",
    )


def token_path() -> Path:
    """The server's token file, ``data_dir()/server.token``."""
    return data_dir() / "server.token"


def client_token() -> str | None:
    """The token a client sends: env ``COVALENT_NB_TOKEN``, config ``dispatcher.token``, the token file."""
    token = os.environ.get(TOKEN_ENV, "").strip()
    if token:
        return token
    token = str(get_config("dispatcher.token") or "").strip()
    if token:
        return token
    try:
        token = token_path().read_text(encoding="utf-8").strip()
    except OSError:
        return None
    return token or None


# ---------------------------------------------------------------- reading


def _file_stamp(path: Path) -> tuple[int, int] | None:
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    return (stat.st_mtime_ns, stat.st_size)


def _read_file(path: Path) -> dict[str, Any]:
    """The config file's own content ({} when missing); ConfigError when unreadable."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the covalent-nb config file {path}: {exc}") from exc
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            f"the covalent-nb config file {path} is not valid TOML ({exc}); "
            "fix it, or delete it to go back to the defaults"
        ) from exc


def _merge(base: dict[str, Any], override: dict[str, Any], source: str, prefix: str = "") -> None:
    """Deep-merge ``override`` into ``base`` in place; a value where a section belongs is an error."""
    for key, value in override.items():
        dotted = f"{prefix}{key}"
        current = base.get(key)
        if key in base and isinstance(current, dict) != isinstance(value, dict):
            wanted = f"a [{dotted}] section" if isinstance(current, dict) else f"a value like {current!r}"
            raise ConfigError(f"{source}: {dotted!r} must be {wanted}, not {value!r}")
        if isinstance(current, dict):
            _merge(current, value, source, dotted + ".")
        else:
            base[key] = copy.deepcopy(value)


def _leaf_keys(table: dict[str, Any], prefix: str = "") -> list[str]:
    keys: list[str] = []
    for key, value in table.items():
        keys.extend(_leaf_keys(value, f"{prefix}{key}.") if isinstance(value, dict) else [prefix + key])
    return keys


def _validated(content: dict[str, Any], source: str) -> dict[str, Any]:
    """Defaults overlaid with ``content``, known keys converted to their types."""
    merged = copy.deepcopy(DEFAULTS)
    _merge(merged, content, source)
    for key in _leaf_keys(DEFAULTS):
        section, name = key.split(".")
        try:
            merged[section][name] = _coerce(key, merged[section][name])
        except ConfigError as exc:
            raise ConfigError(f"{source}: {exc}") from None
    return merged


def _loaded() -> tuple[dict[str, Any], dict[str, Any]]:
    """``(defaults overlaid with the file, the file's own content)``, re-read when the file changes."""
    global _cache
    path = config_path()
    stamp = _file_stamp(path)
    if _cache is not None and _cache[0] == path and _cache[1] == stamp:
        return _cache[2], _cache[3]
    source = f"in the covalent-nb config file {path} (fix it, or delete it for the defaults)"
    content = _read_file(path)
    merged = _validated(content, source)
    _cache = (path, stamp, merged, content)
    return merged, content


def _merged_config() -> dict[str, Any]:
    """Defaults overlaid with the config file."""
    return _loaded()[0]


def url_host(host: str) -> str:
    """A host as it stands in a URL: IPv6 literals in brackets."""
    return f"[{host}]" if ":" in host else host


def is_set_in_file(key: str) -> bool:
    """True when the config file itself sets dotted ``key`` (not only the defaults)."""
    value: Any = _loaded()[1]
    for part in _split_key(key):
        if not isinstance(value, dict) or part not in value:
            return False
        value = value[part]
    return True


def is_set_in_process(key: str) -> bool:
    """True when ``set_config`` in this process set dotted ``key`` (or its section) in the current config file.

    The file holds the value for every process; this says that this process
    chose it itself, so that it wins over what a host (the Jupyter server
    extension) hands the process.
    """
    wanted = ".".join(_split_key(key))
    return any(wanted == done or wanted.startswith(done + ".") or done.startswith(wanted + ".")
               for done in _set_here.get(config_path(), ()))


def reload_config() -> dict[str, Any]:
    """Forget the cached config and read the file again; returns the merged config."""
    global _cache
    _cache = None
    return get_config()


def get_config(key: str | None = None) -> Any:
    """The value at dotted ``key`` (e.g. ``"dispatcher.port"``), or the whole config when None.

    Raises KeyError naming the key when it is not set.
    """
    value: Any = _merged_config()
    if key is None:
        return copy.deepcopy(value)
    parts = _split_key(key)
    for depth, part in enumerate(parts):
        if not isinstance(value, dict) or part not in value:
            raise KeyError(_no_such_key(key, parts[:depth], value))
        value = value[part]
    return copy.deepcopy(value)


def _no_such_key(key: str, found: list[str], table: Any) -> str:
    """What to say when dotted ``key`` is not set: ``found`` is the part of it that is, ``table`` what is there."""
    if not isinstance(table, dict):
        return f"no config key {key!r}: {'.'.join(found)!r} is a value, not a section"
    offered = f"the [{'.'.join(found)}] section has" if found else "known sections"
    return f"no config key {key!r}; " + choices_hint(_split_key(key)[len(found)], table, offered)


# ---------------------------------------------------------------- writing


def _split_key(key: str) -> list[str]:
    parts = key.split(".") if isinstance(key, str) else []
    if not parts or any(not part.strip() for part in parts):
        raise ConfigError(f"bad config key {key!r}: use dotted names like 'dispatcher.port'")
    return [part.strip() for part in parts]


def _flatten(updates: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}, "c.d": 2}`` -> ``{"a.b": 1, "c.d": 2}``; empty dicts stay as sections."""
    flat: dict[str, Any] = {}
    for key, value in updates.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat.update(_flatten(value, dotted + "."))
        else:
            flat[dotted] = value
    return flat


def _default_at(parts: list[str]) -> Any:
    value: Any = DEFAULTS
    for part in parts:
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def _coerce(key: str, value: Any) -> Any:
    """``value`` converted to the type of the default at ``key`` (e.g. port "48008" -> 48008)."""
    if value is None:
        raise ConfigError(f"cannot set {key!r} to None: TOML has no null; give a value")
    default = _default_at(key.split("."))
    if isinstance(default, bool) or default is None or isinstance(value, dict):
        return value
    if isinstance(default, int):
        if isinstance(value, str) and value.strip().lstrip("+-").isdigit():
            value = int(value.strip())
        if not isinstance(value, int) or isinstance(value, bool):
            raise ConfigError(f"{key} must be a whole number, e.g. {default}; got {value!r}")
        _check_range(key, value)
    elif isinstance(default, str) and not isinstance(value, str):
        raise ConfigError(f"{key} must be a string, e.g. {default or 'some text'!r}; got {value!r}")
    return value


def _check_range(key: str, value: int) -> None:
    if key == "dispatcher.port" and not 1 <= value <= 65535:
        raise ConfigError(f"dispatcher.port must be between 1 and 65535; got {value}")
    if key == "server.workers" and value < 0:
        raise ConfigError(f"server.workers must be 0 (one per core) or more; got {value}")
    if key == "server.max_payload_mb" and value <= 0:
        raise ConfigError(f"server.max_payload_mb must be positive; got {value}")


def _check_known(parts: list[str]) -> None:
    """Refuse a key that a section of fixed keys (dispatcher, server, dask) does not have; warn of a
    section nobody reads whose name is close to a known one (other sections are free, as in Covalent)."""
    section = DEFAULTS.get(parts[0])
    if isinstance(section, dict) and section and len(parts) > 1 and parts[1] not in section:
        raise ConfigError(f"no config key {'.'.join(parts)!r} to set; "
                          + choices_hint(parts[1], section, f"the [{parts[0]}] section has"))
    if parts[0] not in DEFAULTS:
        suggestion = did_you_mean(parts[0], DEFAULTS)
        if suggestion:
            warnings.warn(f"set_config: covalent-nb reads no config section {parts[0]!r} ({'.'.join(parts)!r} "
                          f"is written all the same); {suggestion}", UserWarning, stacklevel=4)


def _assign(content: dict[str, Any], key: str, value: Any) -> None:
    parts = _split_key(key)
    _check_known(parts)
    table = content
    for depth, part in enumerate(parts[:-1]):
        table = table.setdefault(part, {})
        if not isinstance(table, dict):
            where = ".".join(parts[: depth + 1])
            raise ConfigError(f"cannot set {key!r}: {where!r} is a value, not a section")
    if isinstance(_default_at(parts), dict) and not isinstance(value, dict):
        raise ConfigError(f"cannot set {key!r} to {value!r}: it is a section; set its keys instead")
    if isinstance(value, dict):
        existing = table.setdefault(parts[-1], {})
        if not isinstance(existing, dict):
            raise ConfigError(f"cannot make {key!r} a section: it already holds {existing!r}")
    else:
        table[parts[-1]] = value


def _write_atomically(path: Path, content: dict[str, Any]) -> None:
    """Write TOML to ``path`` via a temporary file (mode 0600: it may hold a token)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        text = tomli_w.dumps(content)
    except TypeError as exc:
        raise ConfigError(f"cannot store this value in the config file {path}: {exc}") from exc
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=".covalent.conf.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as tmp:
            tmp.write(text)
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def set_config(new: dict[str, Any] | str, value: Any = None) -> None:
    """Set config keys and write the config file.

    ``new`` is a dict of dotted keys (``{"dispatcher.address": "10.0.0.5",
    "dispatcher.port": 48008}``) or nested dicts, or one dotted key with
    ``value``. Numbers given as strings for numeric keys are converted;
    nothing is written when any value is invalid. The file keeps only what
    was set; everything else stays at its default. The process also
    remembers which keys it set (:func:`is_set_in_process`): a dispatcher
    address set here wins over the one a Jupyter server hands its kernels.
    """
    updates = _flatten({new: value} if isinstance(new, str) else dict(new))
    path = config_path()
    content = _read_file(path)
    for key, item in updates.items():
        _assign(content, key, _coerce(key, item))
    _validated(content, "set_config")  # refuse to write what could not be read back
    _write_atomically(path, content)
    _set_here.setdefault(path, set()).update(".".join(_split_key(key)) for key in updates)
    reload_config()


# ---------------------------------------------------------------- addresses


def _parse(text: str, default_port: int) -> tuple[str, str, int]:
    """``(scheme, host, port)`` from "host", "host:port", "http://host:port/" or "[::1]:port"."""
    bad = f"malformed dispatcher address {text!r}: expected host:port, {_ADDRESS_EXAMPLE}"
    rest = text.strip() if isinstance(text, str) else ""
    scheme = "http"
    match = _SCHEME.match(rest)
    if match:
        scheme = match.group(1).lower()
        if scheme not in ("http", "https"):
            raise ConfigError(f"{bad} (scheme {scheme!r} is not http or https)")
        rest = rest[match.end():]
    rest = rest.rstrip("/")
    if not rest or "/" in rest or any(ch.isspace() for ch in rest):
        raise ConfigError(bad)
    bracketed = _BRACKETED.match(rest)
    if bracketed:
        host, port_text = bracketed.group(1), bracketed.group(2)
    elif rest.count(":") > 1:  # a bare IPv6 address, no port
        host, port_text = rest, None
    else:
        host, _, port_text = rest.partition(":")
        port_text = port_text if ":" in rest else None
    if not host or "[" in host or "]" in host:
        raise ConfigError(bad)
    if port_text is None:
        return scheme, host, default_port
    if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise ConfigError(f"{bad} (the port must be a number from 1 to 65535)")
    return scheme, host, int(port_text)


def parse_address(text: str, default_port: int = 48008) -> tuple[str, int]:
    """``(host, port)`` from an address; raises ConfigError (a ValueError) with an example."""
    _, host, port = _parse(text, default_port)
    return host, port


def dispatcher_address(dispatcher_addr: str | None = None) -> tuple[str, int]:
    """``(host, port)`` of the dispatcher: ``dispatcher_addr`` when given, else the config."""
    return _resolve(dispatcher_addr)[1:]


def dispatcher_url(dispatcher_addr: str | None = None) -> str:
    """The dispatcher's base URL, e.g. ``http://localhost:48008`` (IPv6 hosts in brackets)."""
    scheme, host, port = _resolve(dispatcher_addr)
    return f"{scheme}://{url_host(host)}:{port}"


def _resolve(dispatcher_addr: str | None) -> tuple[str, str, int]:
    config_port = int(get_config("dispatcher.port"))
    if dispatcher_addr:
        return _parse(dispatcher_addr, config_port)
    try:
        return _parse(str(get_config("dispatcher.address")), config_port)
    except ConfigError as exc:
        raise ConfigError(f"{exc}; fix dispatcher.address in {config_path()}") from None
