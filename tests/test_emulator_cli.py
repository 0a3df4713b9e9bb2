"""`idpctl emulator` as a process: the READY line within 2 s, secrets, flags, the harness's
subprocess mode and `--state` across a process restart."""

from __future__ import annotations

import os
import ssl
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from idpctl_emulator.cli import build_parser, main, parse_ready
from idpctl_emulator.harness import running_emulator
from idpctl_emulator.readings import Readings

COLLECTION = "/beta/identity/identityProviders"


def _start(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "idpctl", "emulator", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ, **(env or {})),
    )


def _ready(process: subprocess.Popen[str]) -> dict[str, str]:
    assert process.stdout is not None
    ready = parse_ready(process.stdout.readline())
    assert ready, process.stderr.read() if process.stderr else ""
    return ready


def _stop(process: subprocess.Popen[str]) -> int:
    process.send_signal(2)
    try:
        return process.wait(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()


def _seconds_to_ready(data_dir: Path) -> float:
    started = time.monotonic()
    process = _start("--tenant-kind", "external", "--data-dir", str(data_dir))
    try:
        _ready(process)
        return time.monotonic() - started
    finally:
        _stop(process)


def test_ready_line_within_two_seconds(tmp_path: Path) -> None:
    # best of three: a loaded CI machine (xdist workers) can stall any one start
    best = _seconds_to_ready(tmp_path)
    for _ in range(2):
        if best < 2.0:
            break
        best = min(best, _seconds_to_ready(tmp_path))
    assert best < 2.0


def test_ready_line_and_secret_file(tmp_path: Path) -> None:
    process = _start("--tenant-kind", "external", "--data-dir", str(tmp_path))
    try:
        ready = _ready(process)
        assert ready["base_url"].startswith("https://127.0.0.1:")
        assert ready["kind"] == "external" and ready["ca"] == str(tmp_path / "ca.pem")
        secret_file = Path(ready["secret-file"])
        assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
        secret = secret_file.read_text()
        response = httpx.post(
            f"{ready['base_url']}/{ready['tenant']}/oauth2/v2.0/token",
            verify=ssl.create_default_context(cafile=ready["ca"]),
            data={
                "grant_type": "client_credentials",
                "client_id": ready["client"],
                "client_secret": secret,
                "scope": "https://graph.microsoft.com/.default",
            },
        )
        assert response.status_code == 200
    finally:
        assert _stop(process) == 0
    assert not secret_file.exists()
    assert secret not in (process.stdout.read() if process.stdout else "")


def test_secret_from_environment_and_flags(tmp_path: Path) -> None:
    process = _start(
        "--tenant-kind",
        "b2c",
        "--tenant",
        "my-tenant",
        "--client-id",
        "my-app",
        "--http",
        "--data-dir",
        str(tmp_path),
        env={"IDPCTL_EMULATOR_CLIENT_SECRET": "CANARY-env"},
    )
    try:
        ready = _ready(process)
        assert ready["base_url"].startswith("http://")
        assert (ready["tenant"], ready["kind"], ready["client"]) == ("my-tenant", "b2c", "my-app")
        assert "secret-file" not in ready
        response = httpx.post(
            f"{ready['base_url']}/my-tenant/oauth2/v2.0/token",
            data={
                "grant_type": "client_credentials",
                "client_id": "my-app",
                "client_secret": "CANARY-env",
                "scope": "https://graph.microsoft.com/.default",
            },
        )
        assert response.status_code == 200
    finally:
        _stop(process)


@pytest.mark.parametrize(
    "args",
    [
        ["--tenant-kind", "nope"],
        ["--rate-limit", "0"],
        ["--page-size", "x"],
        ["--page-size", "0"],
        ["--replication-delay", "-1"],
        ["--request-log-size", "0"],
    ],
)
def test_bad_arguments_exit_nonzero(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(args)
    assert exited.value.code != 0 and "READY" not in capsys.readouterr().out


@pytest.mark.parametrize("reading", ["patch=sideways", "nope=1", "patch"])
def test_an_unknown_reading_is_one_error_line(
    reading: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--reading", reading]) == 1
    captured = capsys.readouterr()
    assert "READY" not in captured.out and captured.err.startswith("Error: ")
    assert "Traceback" not in captured.err


def test_readings_reach_a_subprocess_emulator_and_reset_keeps_them(tmp_path: Path) -> None:
    readings = Readings(patch="replace", secret="absent")
    with running_emulator(
        subprocess=True, rate_limit="off", data_dir=tmp_path, readings=readings
    ) as emu:
        assert emu.admin.call("GET", "/readings") == readings.to_data()
        emu.admin.set_readings(errors="detailed")
        assert emu.admin.call("GET", "/readings")["patch"] == "merge"
        emu.admin.reset()
        assert emu.admin.call("GET", "/readings") == readings.to_data()


def test_parser_defaults() -> None:
    args = build_parser().parse_args([])
    assert (args.host, args.port, args.tenant_kind, args.page_size, args.rate_limit) == (
        "127.0.0.1",
        0,
        "external",
        100,
        300,
    )
    assert build_parser().parse_args(["--rate-limit", "off"]).rate_limit is None


def test_request_log_size_reaches_a_subprocess_emulator(tmp_path: Path) -> None:
    """`--request-log-size N` keeps the latest N requests; the default stays 10,000."""
    assert build_parser().parse_args([]).request_log_size == 10_000
    with running_emulator(
        subprocess=True, rate_limit="off", data_dir=tmp_path, request_log_size=3
    ) as emu:
        with emu.graph() as graph:
            emu.admin.clear_requests()
            for _ in range(5):
                assert graph.get(COLLECTION).status_code == 200
        assert len(emu.admin.requests()) == 3


def test_harness_subprocess_mode_and_state_across_restart(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    with running_emulator(
        subprocess=True, state_file=state, rate_limit="off", tenant_kind="workforce"
    ) as first:
        assert first.process is not None and first.kind == "workforce"
        with first.graph() as graph:
            created = graph.post(
                COLLECTION,
                json={
                    "@odata.type": "#microsoft.graph.socialIdentityProvider",
                    "displayName": "FB",
                    "identityProviderType": "Facebook",
                    "clientId": "c",
                    "clientSecret": "CANARY-cli",
                },
            )
            assert created.status_code == 201
        tenant = first.tenant
    assert first.process.poll() == 0
    with running_emulator(
        subprocess=True, state_file=state, rate_limit="off", tenant_kind="workforce"
    ) as second:
        assert second.tenant == tenant
        with second.graph() as graph:
            got = graph.get(f"{COLLECTION}/Facebook-OAUTH")
            assert got.status_code == 200 and got.json()["clientSecret"] == "******"


def test_state_of_another_tenant_kind_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "state.json"
    with running_emulator(state_file=state, tenant_kind="b2c", rate_limit="off") as emu:
        emu.admin.reset()
    code = main(["--tenant-kind", "external", "--state", str(state), "--data-dir", str(tmp_path)])
    out, err = capsys.readouterr()
    assert code == 1 and "READY" not in out and "b2c" in err


@pytest.mark.parametrize("line", ["", "hello", "READY"])
def test_parse_ready_rejects_other_lines(line: str) -> None:
    assert parse_ready(line) is None
