"""Against a real worker, Kafka and Postgres: `PUT /api/0/flags/{name}/` and `PUT /api/0/options/{name}/`
(spec §20.11.3, §20.11.4) set a flag and an option through the options topic, read back over GET."""
from __future__ import annotations

import pytest

from tests.integration.harness import Deployment, wait_for
from tests.integration.test_api_auth_trackers import (
    AUTH,
    TOKEN,
    api_up,
    assert_error,
    call,
    start,
)

pytestmark = pytest.mark.integration

FLAG = "replay-click-dead-visible"
OPTION = "timers.scan_interval_seconds"


async def test_flag_and_option_set_over_http_are_read_back_and_bad_values_or_no_token_are_refused(
    deployment: Deployment,
) -> None:
    assert deployment.cli("migrate").returncode == 0
    worker = start(deployment, TOKEN)
    wait_for(lambda: api_up(worker), timeout=90, what="the API")

    # The flag: la for projects 3 and 5, answered once applied, and the same on GET.
    before = call(worker, "GET", f"/api/0/flags/{FLAG}/")
    assert before.status == 200, before.json
    assert before.json["stage"] == "off"
    answer = call(worker, "PUT", f"/api/0/flags/{FLAG}/", {"stage": "la", "projects": [5, 3]}, AUTH)
    assert answer.status == 200, answer.json
    assert answer.json["name"] == FLAG and answer.json["stage"] == "la"
    assert sorted(answer.json["projects"]) == [3, 5]
    listed = {flag["name"]: flag for flag in call(worker, "GET", "/api/0/flags/").json}
    assert listed[FLAG]["stage"] == "la" and sorted(listed[FLAG]["projects"]) == [3, 5]
    # §20.11.3: projects are required for la/ea and must be absent for off/ga; the CLI's messages.
    missing = call(worker, "PUT", f"/api/0/flags/{FLAG}/", {"stage": "ea"}, AUTH)
    assert_error(missing, 400, "invalid_body")
    assert "needs a 'projects' list" in missing.json["message"]
    assert missing.json["details"]["errors"][0]["message"] == missing.json["message"]
    assert_error(call(worker, "PUT", f"/api/0/flags/{FLAG}/", {"stage": "ga", "projects": [1]}, AUTH),
                 400, "invalid_body")
    assert_error(call(worker, "PUT", f"/api/0/flags/{FLAG}/", {"stage": "soon"}, AUTH), 400, "invalid_body")
    assert_error(call(worker, "PUT", f"/api/0/flags/{FLAG}/", b"{not json", AUTH), 400, "invalid_body")
    assert_error(call(worker, "PUT", "/api/0/flags/no-such-flag-visible/", {"stage": "ga"}, AUTH), 404, "not_found")
    assert call(worker, "GET", f"/api/0/flags/{FLAG}/").json["stage"] == "la"  # refused PUTs changed nothing

    # The option: an integer within its bounds.
    answer = call(worker, "PUT", f"/api/0/options/{OPTION}/", {"value": 30}, AUTH)
    assert answer.status == 200, answer.json
    assert answer.json["name"] == OPTION and answer.json["value"] == 30 and answer.json["default"] == 60
    listed = {option["name"]: option for option in call(worker, "GET", "/api/0/options/").json}
    assert listed[OPTION]["value"] == 30
    assert listed[f"flag:{FLAG}"]["value"] == {"stage": "la", "projects": [3, 5]}
    low = call(worker, "PUT", f"/api/0/options/{OPTION}/", {"value": 5}, AUTH)
    assert_error(low, 400, "invalid_body")
    assert low.json["message"] == f"{OPTION} must be between 10 and 3600, got 5"
    assert_error(call(worker, "PUT", f"/api/0/options/{OPTION}/", {"value": "30"}, AUTH), 400, "invalid_body")
    assert_error(call(worker, "PUT", f"/api/0/options/{OPTION}/", {}, AUTH), 400, "invalid_body")
    startup = call(worker, "PUT", "/api/0/options/dedupe.window_seconds/", {"value": 600}, AUTH)
    assert_error(startup, 400, "invalid_body")
    assert "start-up setting" in startup.json["message"]
    assert_error(call(worker, "PUT", "/api/0/options/no.such.option/", {"value": 1}, AUTH), 404, "not_found")
    assert call(worker, "GET", f"/api/0/options/{OPTION}/").json["value"] == 30

    # Without the token (or with a wrong one) nothing is set: 401 before routing (spec §20.1.2).
    for headers in (None, {"Authorization": "Bearer wrong"}):
        assert_error(call(worker, "PUT", f"/api/0/flags/{FLAG}/", {"stage": "ga"}, headers), 401, "unauthorized")
        assert_error(call(worker, "PUT", f"/api/0/options/{OPTION}/", {"value": 40}, headers), 401, "unauthorized")
    assert call(worker, "GET", f"/api/0/flags/{FLAG}/").json["stage"] == "la"
    assert call(worker, "GET", f"/api/0/options/{OPTION}/").json["value"] == 30

    # The list resources still take no PUT (405 with Allow: GET).
    assert_error(call(worker, "PUT", "/api/0/options/", {"value": 1}, AUTH), 405, "method_not_allowed")
