"""Settings: environment parsing and one-line errors naming the variable (issue: Foundation)."""
from __future__ import annotations

import pytest

from streams.settings import SettingsError, load_settings


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("ISSUE_PLATFORM_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # no stray .env


def test_defaults_match_the_local_services() -> None:
    settings = load_settings()
    assert settings.partitions == 12
    assert settings.broker_url == "kafka://127.0.0.1:9092"
    assert settings.web_port == 6066
    assert settings.processing_guarantee == "at_least_once"
    assert settings.topic_prefix == ""


def test_environment_overrides_use_the_issue_platform_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ISSUE_PLATFORM_PARTITIONS", "4")
    monkeypatch.setenv("ISSUE_PLATFORM_WEB_PORT", "7000")
    monkeypatch.setenv("ISSUE_PLATFORM_GROUPTYPE_MODULES", "acme.types, beta.more")
    settings = load_settings()
    assert (settings.partitions, settings.web_port) == (4, 7000)
    assert settings.grouptype_modules == ["acme.types", "beta.more"]


def test_dot_env_file_is_read(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / ".env").write_text("ISSUE_PLATFORM_SINK_BATCH_SIZE=42\n")
    assert load_settings().sink_batch_size == 42


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("ISSUE_PLATFORM_PARTITIONS", "twelve"),
        ("ISSUE_PLATFORM_PARTITIONS", "0"),
        ("ISSUE_PLATFORM_WEB_PORT", "70000"),
        ("ISSUE_PLATFORM_BROKER_URL", "127.0.0.1:9092"),
        ("ISSUE_PLATFORM_DATABASE_URL", "mysql://x"),
        ("ISSUE_PLATFORM_PROCESSING_GUARANTEE", "sometimes"),
        ("ISSUE_PLATFORM_SINK_BATCH_SECONDS", "-1"),
    ],
)
def test_a_bad_setting_fails_with_one_line_naming_it(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    message = str(caught.value)
    assert name in message
    assert "\n" not in message


def test_the_cli_reports_a_bad_setting_without_a_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    import subprocess
    import sys
    from pathlib import Path

    env = {"ISSUE_PLATFORM_PARTITIONS": "nope", "PATH": "/usr/bin:/bin"}
    cli = Path(sys.executable).with_name("issue-platform")
    result = subprocess.run([str(cli), "migrate"], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "ISSUE_PLATFORM_PARTITIONS" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_topic_prefix_alone_gives_a_deployment_its_own_consumer_group_and_changelogs() -> None:
    from streams.app import create_app

    names = []
    for prefix in ("blue.", "green."):
        app = create_app(load_settings(topic_prefix=prefix))
        groups = app.Table("groups", partitions=1)
        # Faust's aiokafka consumer joins the group named by the app id (conf.id).
        names.append((app.conf.id, groups.changelog_topic.get_topic_name()))
    (blue_group, blue_changelog), (green_group, green_changelog) = names
    assert blue_group != green_group
    assert blue_changelog != green_changelog
    assert (blue_group, blue_changelog) == ("blue.issue-platform", "blue.issue-platform-groups-changelog")


def test_without_a_prefix_the_app_id_names_the_deployment_as_before() -> None:
    assert load_settings().deployment_id == "issue-platform"
    assert load_settings(app_id="acme").deployment_id == "acme"
