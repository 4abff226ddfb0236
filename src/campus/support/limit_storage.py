"""The app's ``limits`` storage in its own SQL database, named by a URI like every other
(``RATELIMIT_STORAGE_URI``): ``campus+sql://<name>`` names an engine and table registered
here, and the storage itself is the extension's (``flask_emailcode.limit_storage``).
"""

from __future__ import annotations

import weakref
from typing import Any

from limits.errors import ConfigurationError
from sqlalchemy import MetaData, Table
from sqlalchemy.engine import Engine

from flask_emailcode.limit_storage import SqlStorage as _ExtensionSqlStorage
from flask_emailcode.limit_storage import hit_table as _hit_table

SCHEME = "campus+sql"

# A URI names the database; options cannot carry an engine through ``storage_from_string``.
# Held weakly: the app owns its engine, and an app that is gone takes it along.
_DATABASES: dict[str, tuple[weakref.ref[Engine], Table]] = {}


def storage_uri(engine: Engine, table: Table) -> str:
    """A ``campus+sql://`` URI for the limits library that reaches ``table`` on ``engine``."""
    name = f"{id(engine):x}"
    _DATABASES[name] = (weakref.ref(engine), table)
    return f"{SCHEME}://{name}"


def hit_table(metadata: MetaData, name: str = "rate_limit_hits") -> Table:
    """One row per counted request (the app's table keeps its name)."""
    return _hit_table(metadata, name)


class SqlStorage(_ExtensionSqlStorage):
    """``campus+sql://``: the extension's SQL storage, found from its URI."""

    STORAGE_SCHEME = [SCHEME]  # noqa: RUF012  (declared so by the base class)

    def __init__(self, uri: str, wrap_exceptions: bool = False, **options: Any) -> None:
        engine, table = _DATABASES[uri.partition("://")[2]]
        found = engine()
        if found is None:
            raise ConfigurationError(f"{uri}: its database is gone")
        super().__init__(found, table, wrap_exceptions=wrap_exceptions)
