"""--credentials: every request must carry a valid SigV4 signature."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from tests.e2e.conftest import ServerProcess, aws_cli

KEY, SECRET = "AKIDDOCKYARD", "s3cr3t-value-never-logged"


@pytest.fixture
def secured(tmp_path: Path) -> ServerProcess:
    credentials = tmp_path / "credentials.json"
    credentials.write_text(json.dumps({KEY: SECRET}))
    proc = ServerProcess(tmp_path / "data", extra_args=["--credentials", str(credentials)])
    proc.start()
    yield proc  # type: ignore[misc]
    proc.stop()


def test_signed_requests_work_and_bad_ones_get_403(secured: ServerProcess) -> None:
    good = secured.client(aws_access_key_id=KEY, aws_secret_access_key=SECRET)
    good.create_cluster(clusterName="stage01")

    wrong = secured.client(aws_access_key_id=KEY, aws_secret_access_key="wrong")
    with pytest.raises(ClientError) as excinfo:
        wrong.create_cluster(clusterName="intruder")
    assert excinfo.value.response["Error"]["Code"] == "InvalidSignatureException"
    assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403

    unknown = secured.client(aws_access_key_id="AKIDNOBODY", aws_secret_access_key=SECRET)
    with pytest.raises(ClientError) as excinfo:
        unknown.create_cluster(clusterName="intruder")
    assert excinfo.value.response["Error"]["Code"] == "UnrecognizedClientException"

    request = urllib.request.Request(
        secured.endpoint + "/",
        data=b'{"clusterName": "intruder"}',
        headers={
            "X-Amz-Target": "AmazonEC2ContainerServiceV20141113.CreateCluster",
            "Content-Type": "application/x-amz-json-1.1",
        },
        method="POST",
    )
    with pytest.raises(urllib.error.HTTPError) as http_error:
        urllib.request.urlopen(request, timeout=5)
    assert http_error.value.code == 403
    assert json.loads(http_error.value.read())["__type"] == "MissingAuthenticationTokenException"

    names = [a.rsplit("/", 1)[1] for a in good.list_clusters()["clusterArns"]]
    assert names == ["stage01"]
    assert SECRET not in (secured.log_path.read_text() if secured.log_path else "")


def test_aws_cli_signs_with_the_right_keys(secured: ServerProcess) -> None:
    env = {"AWS_ACCESS_KEY_ID": KEY, "AWS_SECRET_ACCESS_KEY": SECRET}
    done = aws_cli(secured.endpoint, "ecs", "create-cluster", "--cluster-name", "stage01", env=env)
    assert done.returncode == 0, done.stderr
    env_bad = {"AWS_ACCESS_KEY_ID": KEY, "AWS_SECRET_ACCESS_KEY": "nope"}
    refused = aws_cli(secured.endpoint, "ecs", "create-cluster", "--cluster-name", "x", env=env_bad)
    assert refused.returncode != 0
    assert "InvalidSignatureException" in refused.stderr
    listed = aws_cli(secured.endpoint, "ecs", "list-clusters", env=env)
    assert [a.rsplit("/", 1)[1] for a in json.loads(listed.stdout)["clusterArns"]] == ["stage01"]


def test_non_loopback_bind_without_credentials_is_refused(tmp_path: Path) -> None:
    import subprocess
    import sys

    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "dockyard",
            "server",
            "--host",
            "0.0.0.0",
            "--port",
            "0",
            "--data-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 2
    assert "without --credentials" in done.stderr
