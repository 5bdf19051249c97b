"""The UI session (spec §21): cookie flags, the token cookie, the CSRF and origin checks, flash messages."""
from __future__ import annotations

from streams.web.ui.session import (
    Flash,
    cookie_flags,
    csrf_matches,
    decode_flash,
    decode_token,
    encode_flash,
    encode_token,
    form_refusal,
    new_csrf_token,
    request_scheme,
    same_origin,
    usable_token,
)


def test_cookies_are_httponly_samesite_strict_and_secure_only_over_https() -> None:
    assert cookie_flags("http").as_kwargs() == {"secure": False, "httponly": True, "samesite": "Strict", "path": "/"}
    assert cookie_flags("https").as_kwargs() == {"secure": True, "httponly": True, "samesite": "Strict", "path": "/"}


def test_a_tls_proxy_makes_the_request_https() -> None:
    assert request_scheme("http", "https") == "https"
    assert request_scheme("http", "https, http") == "https"
    assert request_scheme("http", None) == "http"
    assert request_scheme("https", "gopher") == "https"  # nonsense is ignored


def test_csrf_needs_the_cookie_and_an_equal_field() -> None:
    token = new_csrf_token()
    assert csrf_matches(token, token)
    assert not csrf_matches(token, token + "x")
    assert not csrf_matches(token, None)
    assert not csrf_matches(None, token)
    assert not csrf_matches("", "")
    assert new_csrf_token() != new_csrf_token()


def test_origin_must_be_this_site() -> None:
    assert same_origin("http://127.0.0.1:6066", None, "http", "127.0.0.1:6066")
    assert same_origin("HTTP://Example.com", None, "http", "example.com")
    assert not same_origin("http://evil.example", None, "http", "127.0.0.1:6066")
    assert not same_origin("null", None, "http", "127.0.0.1:6066")
    assert not same_origin("https://127.0.0.1:6066", None, "http", "127.0.0.1:6066")  # another scheme is another origin


def test_referer_decides_without_origin_and_neither_is_refused() -> None:
    assert same_origin(None, "http://127.0.0.1:6066/issues/3/", "http", "127.0.0.1:6066")
    assert not same_origin(None, "http://evil.example/issues/3/", "http", "127.0.0.1:6066")
    assert not same_origin(None, "/issues/3/", "http", "127.0.0.1:6066")
    assert not same_origin(None, None, "http", "127.0.0.1:6066")
    # Origin wins over a matching Referer.
    assert not same_origin("http://evil.example", "http://127.0.0.1:6066/", "http", "127.0.0.1:6066")


def test_form_refusal_names_the_failed_check() -> None:
    host = "localhost:6066"
    assert form_refusal("t", "t", "http://localhost:6066", None, "http", host) is None
    assert "Origin" in (form_refusal("t", "t", "http://other", None, "http", host) or "")
    assert "session token" in (form_refusal("t", None, "http://localhost:6066", None, "http", host) or "")
    assert "session token" in (form_refusal(None, "t", "http://localhost:6066", None, "http", host) or "")


def test_the_token_survives_the_cookie_syntax() -> None:
    for token in ("s3cret", 'a;b,c"d\\e f=g', "x" * 1024):
        value = encode_token(token)
        assert all(ch.isalnum() or ch in "-_" for ch in value)
        assert decode_token(value) == token
    assert decode_token(None) is None
    assert decode_token("!!!") is None
    assert decode_token(encode_token("x" * 1024) + "eHg") is None  # too long once decoded


def test_usable_token_trims_and_refuses_what_no_header_could_carry() -> None:
    assert usable_token("  abc  ") == "abc"
    assert usable_token("") is None
    assert usable_token("   ") is None
    assert usable_token("abc\ndef") is None
    assert usable_token("ключ") is None
    assert usable_token("x" * 1025) is None


def test_flash_round_trips_and_rejects_foreign_values() -> None:
    flash = Flash("error", "Resolve failed: HTTP 405 method_not_allowed: PUT is not allowed here")
    value = encode_flash(flash)
    assert "=" not in value and ";" not in value
    assert decode_flash(value) == flash
    assert decode_flash(None) is None
    assert decode_flash("not base64 at all") is None
    assert decode_flash(encode_token('["evil", "x"]')) is None


def test_a_long_flash_is_cut_to_fit_a_cookie() -> None:
    decoded = decode_flash(encode_flash(Flash("info", "é" * 5000)))
    assert decoded is not None and len(decoded.text) == 600 and decoded.text.endswith("…")
    assert len(encode_flash(Flash("info", "é" * 5000))) < 3000
