"""Value objects attached to group types: the noise gate and the creation quota (spec §9.3)."""

from dataclasses import dataclass
from datetime import timedelta

from grouptypes.errors import GroupTypeRegistrationError

_ONE_SECOND = timedelta(seconds=1)


def is_positive_int(value: object) -> bool:
    # bool is an int subclass, but True is never a meaningful id, limit or duration.
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


@dataclass(frozen=True)
class NoiseConfig:
    """Hold back new groups until `ignore_limit` occurrences fall within `expiry_time` (§13.1)."""

    ignore_limit: int = 3
    expiry_time: timedelta = timedelta(hours=24)

    def __post_init__(self) -> None:
        # ignore_limit 1 is allowed: it means "no holding back" and skips the noise table (§13.1.2).
        if not is_positive_int(self.ignore_limit):
            raise GroupTypeRegistrationError(
                f"NoiseConfig.ignore_limit must be an integer >= 1, got {self.ignore_limit!r}"
            )
        # The windowed noise tables are sized in whole seconds (§13.1.3, §10.4.1 `noise-86400s`).
        if (
            not isinstance(self.expiry_time, timedelta)
            or self.expiry_time <= timedelta(0)
            or self.expiry_time % _ONE_SECOND
        ):
            raise GroupTypeRegistrationError(
                "NoiseConfig.expiry_time must be a timedelta of a whole positive number of seconds, "
                f"got {self.expiry_time!r}"
            )

    @property
    def expiry_seconds(self) -> int:
        return self.expiry_time // _ONE_SECOND


@dataclass(frozen=True)
class Quota:
    """At most `limit` grants per `window_seconds`, counted in `granularity_seconds` granules (§13.2)."""

    window_seconds: int
    granularity_seconds: int
    limit: int

    def __post_init__(self) -> None:
        for field_name in ("window_seconds", "granularity_seconds", "limit"):
            value = getattr(self, field_name)
            if not is_positive_int(value):
                raise GroupTypeRegistrationError(
                    f"Quota.{field_name} must be a positive integer, got {value!r}"
                )
        # The sliding window sums exactly w/g granules (§13.2.2), so g must divide w.
        if self.window_seconds % self.granularity_seconds:
            raise GroupTypeRegistrationError(
                f"Quota.window_seconds ({self.window_seconds}) must be a multiple of "
                f"granularity_seconds ({self.granularity_seconds})"
            )

    @property
    def granules(self) -> int:
        return self.window_seconds // self.granularity_seconds


# spec §9.2: at most 5 new groups per hour per (project, type).
DEFAULT_CREATION_QUOTA = Quota(window_seconds=3600, granularity_seconds=60, limit=5)
