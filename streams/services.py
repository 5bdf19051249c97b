"""Process-wide collaborators of the agents: the group type registry and the Postgres pool."""
from __future__ import annotations

from grouptypes import GroupTypeRegistry, load_group_types
from storage.pool import PoolHolder
from streams.settings import get_settings

_settings = get_settings()

# Every worker loads the same registry at start (spec §9.5.5); a broken plugin stops the start here.
registry: GroupTypeRegistry = load_group_types(_settings.grouptype_modules)
postgres = PoolHolder(_settings.database_url)
