"""Group types only the integration tests register (via ISSUE_PLATFORM_GROUPTYPE_MODULES)."""
from __future__ import annotations

from datetime import timedelta

from grouptypes import GroupCategory, GroupType, NoiseConfig, Quota


class BulkTestGroupType(GroupType):
    """No noise and a quota large enough that every fingerprint creates its group."""

    type_id = 9801
    slug = "it_bulk"
    description = "Integration test: bulk"
    category = GroupCategory.PERFORMANCE
    released = True
    creation_quota = Quota(3600, 60, 1_000_000)


class NoisyTestGroupType(GroupType):
    """NoiseConfig(3, 1 h) (spec §13.1) with a large quota."""

    type_id = 9802
    slug = "it_noisy"
    description = "Integration test: noisy"
    category = GroupCategory.PERFORMANCE
    released = True
    noise_config = NoiseConfig(ignore_limit=3, expiry_time=timedelta(hours=1))
    creation_quota = Quota(3600, 60, 1_000_000)


class ShortNoiseTestGroupType(GroupType):
    """NoiseConfig(3, 8 s): windows that expire within a test's patience (spec §13.1.3)."""

    type_id = 9803
    slug = "it_noisy_short"
    description = "Integration test: short noise window"
    category = GroupCategory.PERFORMANCE
    released = True
    noise_config = NoiseConfig(ignore_limit=3, expiry_time=timedelta(seconds=8))
    creation_quota = Quota(3600, 60, 1_000_000)
