"""TLS material in the store and the files the LB writes from it (issue 13, H13c).

ImportCertificate keeps the key in its own kind (never in the certificate document or a
response); the LB model serves only certificates whose key is there; `tls_files.wanted`
names every file a configuration needs; `TlsWriter` writes the missing ones (0600 in
0700 directories) from the store, writes nothing when they exist, and prunes what no
configuration names; `adopt_legacy_files` copies pre-0014 key files into the store once.
"""

from __future__ import annotations

import base64
import json
import logging
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dockyard.acm import files, keys
from dockyard.api.acm import (
    delete_certificate,
    describe_certificate,
    get_certificate,
    import_certificate,
    list_certificates,
)
from dockyard.context import ApiContext
from dockyard.lb.legacy_tls import adopt_legacy_files
from dockyard.lb.model import LbModel, load_model
from dockyard.lb.tls_files import CERTIFICATE, KEY, Piece, wanted
from dockyard.lb.tls_writer import TlsWriter
from dockyard.store import Kind, SqlStore, open_store
from dockyard.store.sql import sqlite_url
from dockyard.testing.certs import make_certificate
from tests.unit.test_lb_model import fixed, put_lb, put_listener


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqlStore]:
    (tmp_path / "db").mkdir()
    opened = open_store(sqlite_url(tmp_path / "db"))
    yield opened
    opened.close()


def _import(ctx: ApiContext, name: str, arn: str | None = None) -> str:
    cert, key = make_certificate(name)
    params: dict[str, Any] = {
        "Certificate": base64.b64encode(cert).decode(),
        "PrivateKey": base64.b64encode(key).decode(),
    }
    if arn:
        params["CertificateArn"] = arn
    return str(import_certificate(ctx, params)["CertificateArn"])


def _https(store: SqlStore, *certificates: str) -> None:
    with store.transaction() as tx:
        lb = put_lb(tx, "web")
        listener = put_listener(tx, lb, 8443, fixed("200"))
        doc = tx.get(Kind.LISTENER, listener)
        assert doc is not None
        doc["Protocol"] = "HTTPS"
        doc["Certificates"] = [{"CertificateArn": arn} for arn in certificates]
        tx.update(Kind.LISTENER, listener, doc)


def _model(store: SqlStore) -> LbModel:
    with store.read() as tx:
        return load_model(tx)


def _files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_import_keeps_the_key_in_its_own_kind_and_never_answers_it(
    store: SqlStore, tmp_path: Path
) -> None:
    ctx = ApiContext(store=store, certs_dir=tmp_path / "data-certs")
    arn = _import(ctx, "app.example.test")
    with store.read() as tx:
        document = tx.get(Kind.CERTIFICATE, arn)
        key = keys.read_key(tx, arn)
    assert key is not None and "PRIVATE KEY" in key
    assert "PRIVATE KEY" not in json.dumps(document)
    answers = [
        describe_certificate(ctx, {"CertificateArn": arn}),
        list_certificates(ctx, {}),
        get_certificate(ctx, {"CertificateArn": arn}),
    ]
    assert "PRIVATE KEY" not in json.dumps(answers, default=str)
    assert not (tmp_path / "data-certs").exists()  # the API writes no file
    delete_certificate(ctx, {"CertificateArn": arn})
    with store.read() as tx:
        assert tx.find_keys(Kind.CERTIFICATE_KEY) == []


def test_writer_makes_private_files_once_and_prunes_what_no_config_names(
    store: SqlStore, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    ctx = ApiContext(store=store)
    arn = _import(ctx, "app.example.test")
    _https(store, arn)
    certs = tmp_path / "lb" / "certs"
    writer = TlsWriter(certs)
    model = _model(store)
    needed = wanted(model, certs)
    with store.read() as tx:
        document = tx.get(Kind.CERTIFICATE, arn)
        assert writer.write_missing(tx, needed) == []
    assert document is not None
    digest = document["_PemSha256"]
    pem, key = files.pem_path(certs, arn, digest), files.key_path(certs, arn, digest)
    assert needed == {pem: Piece(CERTIFICATE, arn, digest), key: Piece(KEY, arn, digest)}
    assert pem.read_text() == document["_Certificate"] and "PRIVATE KEY" in key.read_text()
    assert stat.S_IMODE(certs.stat().st_mode) == 0o700
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in (pem, key))
    before = key.stat().st_mtime_ns
    with store.read() as tx:
        assert writer.write_missing(tx, needed) == []
    assert key.stat().st_mtime_ns == before  # an existing file is the right one: not rewritten

    _import(ctx, "app.example.test", arn)  # a re-import: new names, the old ones pruned
    renewed = wanted(_model(store), certs)
    assert set(renewed).isdisjoint(needed)
    with store.read() as tx:
        writer.write_missing(tx, renewed)
    (certs / "stray.pem").write_text("x")
    writer.prune(renewed)
    assert _files(certs) == sorted(p.name for p in renewed)
    writer.prune({})
    assert _files(certs) == []
    assert "PRIVATE KEY" not in caplog.text


def test_a_certificate_without_its_key_is_not_served(store: SqlStore) -> None:
    ctx = ApiContext(store=store)
    arn = _import(ctx, "app.example.test")
    with store.transaction() as tx:
        keys.delete_key(tx, arn)
    _https(store, arn)
    (listener,) = _model(store).listeners
    assert listener.tls is not None and listener.tls.certificates == ()


def test_legacy_key_files_are_copied_into_the_store_once(store: SqlStore, tmp_path: Path) -> None:
    ctx = ApiContext(store=store)
    arn = _import(ctx, "app.example.test")
    with store.transaction() as tx:
        key = keys.read_key(tx, arn)
        keys.delete_key(tx, arn)  # as a certificate imported before migration 0014
    assert key is not None
    legacy = tmp_path / "data" / "certs"
    legacy.mkdir(parents=True)
    name = files.certificate_id(arn)
    (legacy / f"{name}.pem.key").write_text(key)
    (legacy / f"{name}.pem").write_text("CERT")
    assert adopt_legacy_files(store, legacy) == 1
    with store.read() as tx:
        assert keys.read_key(tx, arn) == key
    assert _files(legacy) == []  # the key lives in the store now
    assert adopt_legacy_files(store, legacy) == 0
    assert adopt_legacy_files(store, tmp_path / "missing") == 0
