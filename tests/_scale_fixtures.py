"""Session fixtures for the scale tests: an S3 API server and a dask cluster,
each started once per test session (a LocalCluster costs seconds) and stopped
at its end. Both run on 127.0.0.1 only.

``s3`` -- moto's server mode (``ThreadedMotoServer``) on a free loopback port;
the fixture gives ``(endpoint_url, storage_options)``; buckets are made by the
tests (``make_bucket``).
``dask_client`` -- ``LocalCluster(processes=True, n_workers=2,
threads_per_worker=1)`` and its ``Client``.
"""
from __future__ import annotations

import logging
import os
import uuid

import pytest

#: fake credentials for the loopback S3 server (never real ones)
S3_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing",
          "AWS_DEFAULT_REGION": "us-east-1"}


@pytest.fixture(scope="session")
def s3():
    pytest.importorskip("moto")
    pytest.importorskip("s3fs")
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    srv = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    srv.start()
    host, port = srv.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    # every S3 client of the session (also those made without our options, such
    # as the coordinate reads of concat/check, and subprocesses) talks to the
    # loopback server, never to a real endpoint
    env = dict(S3_ENV, AWS_ENDPOINT_URL=endpoint)
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    opts = {"key": "testing", "secret": "testing", "endpoint_url": endpoint,
            "client_kwargs": {"region_name": "us-east-1"}}
    try:
        yield endpoint, opts
    finally:
        srv.stop()
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def make_bucket(endpoint: str, files, prefix: str = "archive") -> str:
    """A new bucket holding ``files`` under ``prefix/``; returns ``s3://bucket/prefix``."""
    import boto3

    bucket = f"vz-{uuid.uuid4().hex[:12]}"
    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="testing",
                          aws_secret_access_key="testing")
    client.create_bucket(Bucket=bucket)
    for f in files:
        client.upload_file(str(f), bucket, f"{prefix}/{os.path.basename(str(f))}")
    return f"s3://{bucket}/{prefix}"


@pytest.fixture(scope="session")
def dask_client():
    pytest.importorskip("distributed")
    from distributed import Client, LocalCluster

    for name in ("distributed", "distributed.nanny", "distributed.scheduler", "distributed.worker"):
        logging.getLogger(name).setLevel(logging.ERROR)
    cluster = LocalCluster(processes=True, n_workers=2, threads_per_worker=1, host="127.0.0.1",
                           dashboard_address=None, silence_logs=logging.ERROR)
    client = Client(cluster)
    try:
        yield client
    finally:
        client.close()
        cluster.close()
