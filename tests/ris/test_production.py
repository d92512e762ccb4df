"""The production web process: gunicorn as the Procfile starts it, static files collected and served by
WhiteNoise, DEBUG off; the access log keeps query strings (patient searches) out."""

import secrets
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def production_env(tmp_path: Path, port: int) -> dict:
    return {
        "PATH": f"{BIN}:/usr/bin:/bin",
        "DJANGO_SETTINGS_MODULE": "ris.settings",
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "0",  # TLS ends at the proxy in front; this test talks to gunicorn directly
        "RIS_VAR_DIR": str(tmp_path),
        "RIS_WEB_ADDR": f"127.0.0.1:{port}",
        "WEB_CONCURRENCY": "1",
    }


class NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None  # the 3xx comes back as it is


OPENER = urllib.request.build_opener(NoRedirects)


def fetch(url: str, **headers: str):
    request = urllib.request.Request(url, headers=headers)  # noqa: S310 (a loopback URL of the test)
    try:
        with OPENER.open(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


@pytest.mark.slow
def test_gunicorn_serves_pages_and_compressed_static_files(tmp_path):
    port = free_port()
    env = production_env(tmp_path, port)
    collected = subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert collected.returncode == 0, collected.stderr
    assert (tmp_path / "staticfiles" / "css" / "ris.css.gz").exists()
    log = tmp_path / "gunicorn.log"
    with log.open("w") as out:
        server = subprocess.Popen(
            [str(BIN / "gunicorn"), "-c", "python:ris.gunicorn_conf", "ris.wsgi"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                status, _, _ = fetch(f"{base}/accounts/login/")
                break
            except OSError:
                time.sleep(0.1)
        assert status == 200
        status, headers, _body = fetch(f"{base}/static/css/ris.css", **{"Accept-Encoding": "gzip"})
        assert status == 200
        assert headers.get("Content-Encoding") == "gzip"
        assert "max-age" in headers.get("Cache-Control", "")
        status, headers, _ = fetch(f"{base}/scheduling/?q=zabriskie")
        assert status == 302
        assert headers["Location"].startswith("/accounts/login/")
        assert fetch(f"{base}/static/js/session.js")[0] == 200
    finally:
        server.terminate()
        server.wait(timeout=20)
    text = log.read_text()
    assert '"GET /scheduling/" 302' in text
    assert "zabriskie" not in text
