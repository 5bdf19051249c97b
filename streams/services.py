"""Process-wide collaborators of the agents: the group type and tracker registries and the Postgres pool."""
from __future__ import annotations

from grouptypes import GroupTypeRegistry, load_group_types
from storage.pool import PoolHolder
from streams.settings import get_settings
from streams.trackers import TrackerRegistry, load_trackers

_settings = get_settings()

# Every worker loads the same registry at start (spec §9.5.5); a broken plugin stops the start here.
registry: GroupTypeRegistry = load_group_types(_settings.grouptype_modules)
# Likewise for trackers (spec §24.1): a slug clash or a broken tracker plugin stops the start here.
trackers: TrackerRegistry = load_trackers()
postgres = PoolHolder(_settings.database_url)
