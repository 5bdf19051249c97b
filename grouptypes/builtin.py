"""The built-in group types we ship (spec §9.6); importing this module registers them."""

from datetime import timedelta

from grouptypes.base import GroupType
from grouptypes.categories import GroupCategory
from grouptypes.priority import PriorityLevel
from grouptypes.values import NoiseConfig, Quota

# spec §9.6: every built-in noise config uses a 24 h expiry, every quota counts groups per hour.
_NOISE_EXPIRY = timedelta(hours=24)


def _noise(ignore_limit: int) -> NoiseConfig:
    return NoiseConfig(ignore_limit=ignore_limit, expiry_time=_NOISE_EXPIRY)


def _groups_per_hour(limit: int) -> Quota:
    return Quota(window_seconds=3600, granularity_seconds=60, limit=limit)


# Type 1 (`error`) is deliberately absent: error grouping is out of scope (§0.7, §9.6).

# --- performance (1xxx) ---------------------------------------------------------------------------


class PerformanceSlowDBQueryGroupType(GroupType):
    type_id = 1001
    slug = "performance_slow_db_query"
    description = "Slow DB Query"
    category = GroupCategory.PERFORMANCE
    noise_config = _noise(100)
    default_priority = PriorityLevel.LOW
    released = True


class PerformanceRenderBlockingAssetSpanGroupType(GroupType):
    type_id = 1004
    slug = "performance_render_blocking_asset_span"
    description = "Large Render Blocking Asset"
    category = GroupCategory.PERFORMANCE
    noise_config = _noise(3)
    default_priority = PriorityLevel.LOW
    released = True


class PerformanceNPlusOneDBQueriesGroupType(GroupType):
    type_id = 1006
    slug = "performance_n_plus_one_db_queries"
    description = "N+1 Query"
    category = GroupCategory.PERFORMANCE
    noise_config = _noise(3)
    default_priority = PriorityLevel.LOW
    released = True


class PerformanceConsecutiveDBQueriesGroupType(GroupType):
    type_id = 1007
    slug = "performance_consecutive_db_queries"
    description = "Consecutive DB Queries"
    category = GroupCategory.PERFORMANCE
    noise_config = _noise(15)
    default_priority = PriorityLevel.LOW
    released = True


class PerformanceFileIOMainThreadGroupType(GroupType):
    type_id = 1008
    slug = "performance_file_io_main_thread"
    description = "File IO on Main Thread"
    category = GroupCategory.PERFORMANCE
    noise_config = _noise(3)
    default_priority = PriorityLevel.LOW
    released = True


class PerformanceConsecutiveHTTPGroupType(GroupType):
    type_id = 1009
    slug = "performance_consecutive_http"
    description = "Consecutive HTTP"
    category = GroupCategory.PERFORMANCE
    noise_config = _noise(5)
    default_priority = PriorityLevel.LOW
    released = True


class PerformanceNPlusOneAPICallsGroupType(GroupType):
    type_id = 1010
    slug = "performance_n_plus_one_api_calls"
    description = "N+1 API Call"
    category = GroupCategory.PERFORMANCE
    noise_config = _noise(3)
    default_priority = PriorityLevel.LOW
    released = True


class PerformanceMNPlusOneDBQueriesGroupType(GroupType):
    type_id = 1011
    slug = "performance_m_n_plus_one_db_queries"
    description = "MN+1 Query"
    category = GroupCategory.PERFORMANCE
    noise_config = _noise(3)
    default_priority = PriorityLevel.LOW
    released = True


class PerformanceUncompressedAssetsGroupType(GroupType):
    type_id = 1012
    slug = "performance_uncompressed_assets"
    description = "Uncompressed Asset"
    category = GroupCategory.PERFORMANCE
    noise_config = _noise(100)
    default_priority = PriorityLevel.LOW
    released = True


class PerformanceDBMainThreadGroupType(GroupType):
    type_id = 1013
    slug = "performance_db_main_thread"
    description = "DB on Main Thread"
    category = GroupCategory.PERFORMANCE
    noise_config = _noise(3)
    default_priority = PriorityLevel.LOW
    released = True


class PerformanceLargeHTTPPayloadGroupType(GroupType):
    type_id = 1015
    slug = "performance_large_http_payload"
    description = "Large HTTP payload"
    category = GroupCategory.PERFORMANCE
    noise_config = _noise(3)
    default_priority = PriorityLevel.LOW
    released = True


class PerformanceHTTPOverheadGroupType(GroupType):
    type_id = 1016
    slug = "performance_http_overhead"
    description = "HTTP/1.1 Overhead"
    category = GroupCategory.PERFORMANCE
    noise_config = _noise(20)
    default_priority = PriorityLevel.LOW
    released = True


class PerformanceP95EndpointRegressionGroupType(GroupType):
    type_id = 1018
    slug = "performance_p95_endpoint_regression"
    description = "Endpoint Regression"
    category = GroupCategory.PERFORMANCE
    released = True
    enable_auto_resolve = False
    enable_escalation_detection = False


class PerformanceNPlusOneDBQueriesExperimentalGroupType(GroupType):
    type_id = 1906
    slug = "performance_n_plus_one_db_queries_experimental"
    description = "N+1 Query (Experimental)"
    category = GroupCategory.PERFORMANCE
    noise_config = _noise(3)
    default_priority = PriorityLevel.LOW
    released = False  # the only unreleased performance type: gated by its three flags (§10.1)


# --- profiling (2xxx); category performance, as in the reference ----------------------------------


class ProfileFileIOMainThreadGroupType(GroupType):
    type_id = 2001
    slug = "profile_file_io_main_thread"
    description = "File I/O on Main Thread"
    category = GroupCategory.PERFORMANCE
    default_priority = PriorityLevel.LOW
    released = True


class ProfileImageDecodeMainThreadGroupType(GroupType):
    type_id = 2002
    slug = "profile_image_decode_main_thread"
    description = "Image Decoding on Main Thread"
    category = GroupCategory.PERFORMANCE
    default_priority = PriorityLevel.LOW
    released = True


class ProfileJSONDecodeMainThreadGroupType(GroupType):
    type_id = 2003
    slug = "profile_json_decode_main_thread"
    description = "JSON Decoding on Main Thread"
    category = GroupCategory.PERFORMANCE
    default_priority = PriorityLevel.LOW
    released = True


class ProfileRegexMainThreadGroupType(GroupType):
    type_id = 2007
    slug = "profile_regex_main_thread"
    description = "Regex on Main Thread"
    category = GroupCategory.PERFORMANCE
    default_priority = PriorityLevel.LOW
    released = True


class ProfileFrameDropGroupType(GroupType):
    type_id = 2009
    slug = "profile_frame_drop"
    description = "Frame Drop"
    category = GroupCategory.PERFORMANCE
    noise_config = _noise(2000)
    default_priority = PriorityLevel.LOW
    released = True


class ProfileFunctionRegressionGroupType(GroupType):
    type_id = 2011
    slug = "profile_function_regression"
    description = "Function Regression"
    category = GroupCategory.PERFORMANCE
    released = True
    enable_auto_resolve = False


# --- crons, replays, feedback, uptime -------------------------------------------------------------


class MonitorCheckInFailureGroupType(GroupType):
    type_id = 4001
    slug = "monitor_check_in_failure"
    description = "Crons Monitor Failed"
    category = GroupCategory.CRON
    default_priority = PriorityLevel.HIGH
    released = True
    creation_quota = _groups_per_hour(60_000)


class ReplayDeadClickGroupType(GroupType):
    type_id = 5001
    slug = "replay_click_dead"
    description = "Dead Click Detected"
    category = GroupCategory.REPLAY
    released = False  # gated by its three flags (§10.1)


class ReplayRageClickGroupType(GroupType):
    type_id = 5002
    slug = "replay_click_rage"
    description = "Rage Click Detected"
    category = GroupCategory.REPLAY
    released = True


class ReplayHydrationErrorGroupType(GroupType):
    type_id = 5003
    slug = "replay_hydration_error"
    description = "Hydration Error Detected"
    category = GroupCategory.REPLAY
    released = True


class FeedbackGroupType(GroupType):
    type_id = 6001
    slug = "feedback"
    description = "Feedback"
    category = GroupCategory.FEEDBACK
    released = True
    in_default_search = False  # feedback has its own views; plain issue searches leave it out (§20.6.5)
    enable_auto_resolve = False
    enable_escalation_detection = False
    creation_quota = _groups_per_hour(1000)


class UptimeDomainCheckFailureGroupType(GroupType):
    type_id = 7001
    slug = "uptime_domain_failure"
    description = "Uptime Domain Monitor Failure"
    category = GroupCategory.UPTIME
    default_priority = PriorityLevel.HIGH
    released = True
    enable_auto_resolve = False
    enable_escalation_detection = False
    creation_quota = _groups_per_hour(1000)


BUILTIN_GROUP_TYPES: tuple[type[GroupType], ...] = (
    PerformanceSlowDBQueryGroupType,
    PerformanceRenderBlockingAssetSpanGroupType,
    PerformanceNPlusOneDBQueriesGroupType,
    PerformanceConsecutiveDBQueriesGroupType,
    PerformanceFileIOMainThreadGroupType,
    PerformanceConsecutiveHTTPGroupType,
    PerformanceNPlusOneAPICallsGroupType,
    PerformanceMNPlusOneDBQueriesGroupType,
    PerformanceUncompressedAssetsGroupType,
    PerformanceDBMainThreadGroupType,
    PerformanceLargeHTTPPayloadGroupType,
    PerformanceHTTPOverheadGroupType,
    PerformanceP95EndpointRegressionGroupType,
    PerformanceNPlusOneDBQueriesExperimentalGroupType,
    ProfileFileIOMainThreadGroupType,
    ProfileImageDecodeMainThreadGroupType,
    ProfileJSONDecodeMainThreadGroupType,
    ProfileRegexMainThreadGroupType,
    ProfileFrameDropGroupType,
    ProfileFunctionRegressionGroupType,
    MonitorCheckInFailureGroupType,
    ReplayDeadClickGroupType,
    ReplayRageClickGroupType,
    ReplayHydrationErrorGroupType,
    FeedbackGroupType,
    UptimeDomainCheckFailureGroupType,
)
