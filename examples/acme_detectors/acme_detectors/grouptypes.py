"""ACME's issue types; issue-platform imports this module at start, and defining a subclass registers it."""
from __future__ import annotations

from grouptypes import GroupCategory, GroupType, PriorityLevel, Quota


class AcmeSlowCheckoutGroupType(GroupType):
    """A checkout request slower than its budget, as ACME's performance detector reports it."""

    # Any unused positive integer; the built-in types use 1001-7001 (spec §9.6).
    type_id = 9001
    slug = "acme_slow_checkout"  # flags: acme-slow-checkout-ingest, -post-process-group, -visible
    description = "Slow Checkout"
    category = GroupCategory.PERFORMANCE
    default_priority = PriorityLevel.MEDIUM
    # No noise_config: the first occurrence of a fingerprint creates its issue at once (spec §13.1).
    # Not released yet: every gate is off until an operator rolls it out with `issue-platform flag set`.
    released = False
    # At most 10 new issues per hour per project.
    creation_quota = Quota(window_seconds=3600, granularity_seconds=60, limit=10)
