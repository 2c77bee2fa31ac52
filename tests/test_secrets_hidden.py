"""Secrets never appear in what edgepose prints: a password of any YAML type, and one inside a URL.

The properties run the real CLI in this process (``edgepose.cli.main``) and look at everything it
wrote; the logging test formats a real record through the formatter the service uses.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import shutil
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from edgepose.cli import main
from edgepose.config import load_config, redacted
from edgepose.errors import ConfigError
from edgepose.logs import JournalFormatter, RedactingFormatter
from edgepose.redact import redact_text
from tests.builders.cli import run_cli

# (text, what it must become): the password of a URL goes, the rest stays
REDACTIONS = [
    ("rtsp://user:pass@cam/stream", "rtsp://user:***@cam/stream"),
    ("cannot open rtsp://u:p@ss@10.0.0.2:554/s1", "cannot open rtsp://u:***@10.0.0.2:554/s1"),  # a raw '@' in it
    ("rtsp://u:p/ss@cam/x", "rtsp://u:***@cam/x"),  # a raw '/' in it
    ("https://TOKEN@host/x", "https://***@host/x"),  # a token as the user name
    ("two: rtsp://a:b@c and http://d:e@f", "two: rtsp://a:***@c and http://d:***@f"),
    ("http://host/a@b", "http://host/a@b"),  # an '@' in a path: no credentials
    ("rtsp://cam:554/stream", "rtsp://cam:554/stream"),  # no credentials
    ("mail me at a@b", "mail me at a@b"),  # not a URL
]


@pytest.mark.parametrize(("text", "shown"), REDACTIONS)
def test_redact_text(text: str, shown: str) -> None:
    assert redact_text(text) == shown


def cli(*args: str) -> tuple[int, str]:
    """The CLI's exit code and everything it wrote (stdout and stderr)."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        code = main(list(args))
    return code, out.getvalue()


# Distinctive passwords ("Zq" starts none of edgepose's own words): strings, numbers, lists, maps.
WORD = st.text(alphabet="abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789", min_size=6, max_size=20)
SECRET_TEXT = WORD.map(lambda w: "Zq" + w)
SECRET_NUMBER = st.integers(min_value=10**9, max_value=10**15)
SECRET = st.one_of(
    SECRET_TEXT,
    SECRET_NUMBER,
    st.lists(SECRET_NUMBER, min_size=1, max_size=3),
    st.dictionaries(WORD, SECRET_NUMBER, min_size=1, max_size=2),
)


def shown_forms(secret: object) -> list[str]:
    """The texts that would give the secret away: the value, or each of its parts."""
    if isinstance(secret, list):
        return [str(v) for v in secret]
    if isinstance(secret, dict):
        return [str(v) for v in secret.values()]
    return [str(secret)]


@settings(max_examples=40, deadline=None)
@given(secret=SECRET)
def test_a_password_of_any_type_is_never_shown(tmp_path_factory: pytest.TempPathFactory, secret: object) -> None:
    """In a file or in --set, valid or not, printed or refused: the password's text never shows."""
    path = tmp_path_factory.mktemp("cfg") / "edgepose.yaml"
    path.write_text(yaml.safe_dump({"mqtt": {"username": "u", "password": secret}}))
    flow = yaml.safe_dump(secret, default_flow_style=True).strip().removesuffix("...").strip()
    runs = [
        ("check-config", "-c", str(path), "--print"),
        ("check-config", "--set", "mqtt.username=u", "--set", f"mqtt.password={flow}", "--print"),
        ("check-config", "--set", f"mqtt.password.deeper={flow}"),  # a section where a value is
        ("check-config", "--set", f"mqtt password={flow}"),  # a malformed key
    ]
    for args in runs:
        code, output = cli(*args)
        assert code in (0, 78), output
        for form in shown_forms(secret):
            assert form not in output, (args, output)


@settings(max_examples=40, deadline=None)
@given(user=WORD, password=SECRET_TEXT, host=st.sampled_from(["cam", "10.0.0.2:554", "[fe80::1]:8554"]))
def test_a_url_password_is_never_shown(user: str, password: str, host: str) -> None:
    uri = f"rtsp://{user}:{password}@{host}/stream"
    code, output = cli("check-config", "--set", f"source.uri={uri}", "--print")
    assert code == 0
    assert password not in output
    assert json.loads(output)["source"]["uri"] == f"rtsp://{user}:***@{host}/stream"
    # refused, in an error line that names the URI: without its password
    code, output = cli("check-config", "--set", f"source.uri={uri}", "--set", "cameras.a.source.uri=a.mp4")
    assert code == 78
    assert f"rtsp://{user}:***@{host}/stream" in output
    assert password not in output


def test_redacted_hides_every_camera_uri_and_the_password() -> None:
    config = load_config(
        None,
        [
            "mqtt.username=u",
            "mqtt.password=Zqsecret1",
            "cameras.front.source.uri='rtsp://u:Zqsecret2@a/s'",
            "cameras.back.source.uri='rtsp://u:Zqsecret3@b/s'",
        ],
    )
    text = json.dumps(redacted(config))
    assert "Zqsecret" not in text
    assert redacted(config)["cameras"]["front"]["source"]["uri"] == "rtsp://u:***@a/s"
    assert redacted(config)["mqtt"]["password"] == "***"


@pytest.mark.parametrize("formatter", [RedactingFormatter("%(message)s"), JournalFormatter("%(message)s")])
def test_logs_hide_url_passwords_and_tracebacks_too(formatter: logging.Formatter) -> None:
    try:
        raise ConfigError("cannot open rtsp://u:Zqsecret@cam/s")
    except ConfigError:
        import sys

        record = logging.LogRecord(
            "edgepose.x", logging.ERROR, __file__, 1, "source %s failed", ("rtsp://u:Zqsecret@cam/s",), sys.exc_info()
        )
    text = formatter.format(record)
    assert "Zqsecret" not in text
    assert "rtsp://u:***@cam/s failed" in text
    assert "Traceback" in text  # the traceback is kept, only the password goes


def test_the_service_log_handler_redacts(monkeypatch: pytest.MonkeyPatch) -> None:
    from edgepose import logs

    stream = io.StringIO()
    monkeypatch.setattr(logs.sys, "stderr", stream)
    root = logging.getLogger()
    before = list(root.handlers), root.level
    try:
        logs.setup_logging("info", "plain", env={})
        logging.getLogger("edgepose.test").warning("opening %s", "rtsp://u:Zqsecret@cam/s")
    finally:
        root.handlers[:] = before[0]
        root.setLevel(before[1])
    assert "rtsp://u:***@cam/s" in stream.getvalue()
    assert "Zqsecret" not in stream.getvalue()


def test_verbose_traceback_hides_the_password() -> None:
    code, output = cli(
        "check-config", "-v", "--set", "source.uri=rtsp://u:Zqsecret@cam/s", "--set", "cameras.a.source.uri=a.mp4"
    )
    assert code == 78
    assert "rtsp://u:***@cam/s" in output
    assert "Traceback" in output and "Zqsecret" not in output


def test_bench_reports_no_url_password(tmp_path: Path, squat_path: Path) -> None:
    """The benchmark prints and writes its source: a URL's password shows as ***. The source is a
    real file whose path reads as such a URL (a directory ``a:`` then ``//u:Zqsecret@h``)."""
    folder = tmp_path / "a:" / "u:Zqsecret@h"
    folder.mkdir(parents=True)
    shutil.copy(squat_path, folder / "s.bmp")
    source = f"{tmp_path}/a://u:Zqsecret@h/s.bmp"
    report = tmp_path / "bench.json"
    flags = ["--frames", "2", "--warmup", "0", "--threads", "1", "--accelerators", "cpu", "--json", str(report)]
    proc = run_cli("bench", "--source", source, *flags)
    assert proc.returncode == 0, proc.stderr
    assert "a://u:***@h/s.bmp" in proc.stdout
    for text in (proc.stdout, proc.stderr, report.read_text()):
        assert "Zqsecret" not in text


URL_PASSWORD = st.text(alphabet=st.characters(blacklist_categories=("Z", "C")), min_size=1, max_size=12)


@given(
    before=st.text(max_size=12),
    after=st.text(max_size=12),
    user=st.text(alphabet="abcxyz019._-", max_size=6),
    password=URL_PASSWORD,
    scheme=st.sampled_from(["rtsp", "rtsps", "http", "https", "mqtt"]),
)
def test_redact_text_hides_a_url_password_wherever_it_stands(
    before: str, after: str, user: str, password: str, scheme: str
) -> None:
    """Any password without blanks (a URL cannot hold one raw), whatever text stands around the URL."""
    secret = "Zq" + password
    text = f"{before}{scheme}://{user}:{secret}@cam:554/s{after}"
    if secret in before + after:
        return  # the text holds the word elsewhere too: nothing to say about the URL
    assert secret not in redact_text(text)
