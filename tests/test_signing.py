"""Signed revisions: `commons sign`, signatures sent by their signers, the hub's verdict,
and the standard `model_signing` CLI verifying a download offline, unchanged."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from huggingface_hub import HfApi

from .conftest import Server
from .lineage_helpers import fresh_user

MODEL_SIGNING = str(Path(sys.executable).with_name("model_signing"))


def keypair(where: Path, name: str, curve: ec.EllipticCurve | None = None) -> tuple[Path, Path]:
    key = ec.generate_private_key(curve or ec.SECP256R1())
    private, public = where / f"{name}.pem", where / f"{name}.pub"
    private.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    public.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return private, public


def standard_verify(directory: Path, public: Path) -> subprocess.CompletedProcess[str]:
    """The standard tool, exactly as its README says to run it."""
    return subprocess.run(
        [
            MODEL_SIGNING,
            "verify",
            "key",
            "--signature",
            str(directory / "model.sig"),
            "--public_key",
            str(public),
            str(directory),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )


def state(server: Server, repo: str, revision: str = "main", token: str | None = None) -> dict:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    r = httpx.get(
        f"{server.url}/api/models/{repo}/signature",
        params={"revision": revision},
        headers=headers,
    )
    assert r.status_code == 200, r.text
    return dict(r.json())


def make_model(api: HfApi, repo: str) -> str:
    api.create_repo(repo)
    api.upload_file(
        path_or_fileobj=b'{"model_type": "toy"}', path_in_repo="config.json", repo_id=repo
    )
    api.upload_file(path_or_fileobj=b"\x00weights" * 1000, path_in_repo="weights.bin", repo_id=repo)
    info = api.upload_file(path_or_fileobj=b"# Toy\n", path_in_repo="sub/README.txt", repo_id=repo)
    return str(info.oid)


def test_commons_sign_then_standard_cli_verifies_a_download(server: Server, tmp_path: Path) -> None:
    user, api = fresh_user(server, "sig")
    repo = f"{user}/toy"
    signed_commit = make_model(api, repo)
    private, public = keypair(tmp_path, "alice")
    assert state(server, repo)["status"] == "unsigned"

    out = server.cli("key", "add", user, str(public), "--title", "laptop")
    assert "Added key SHA256:" in out.stdout
    out = server.cli("sign", repo, "--key", str(private))
    assert "Signed 3 files" in out.stdout  # config.json, weights.bin, sub/README.txt

    doc = state(server, repo)
    assert doc["status"] == "verified", doc
    assert doc["signer"] == user and doc["signedFiles"] == 3
    assert doc["summary"].startswith(f"signed by {user}, key SHA256:")
    assert doc["summary"].endswith(", verified")
    page = httpx.get(f"{server.url}/{repo}/commit/main").text
    assert f'signature-verified">verified</span> {doc["summary"]}' in page
    # The signed commit itself has no signature; the signature commit's parent is it.
    assert state(server, repo, signed_commit)["status"] == "unsigned"
    commits = api.list_repo_commits(repo)
    assert commits[1].commit_id == signed_commit and commits[0].title.startswith("Sign ")

    # Offline, with the standard tool and nothing from this hub.
    folder = Path(api.snapshot_download(repo, local_dir=tmp_path / "download"))
    assert (folder / ".cache" / "huggingface").is_dir()  # what the client leaves there
    verified = standard_verify(folder, public)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "Verification succeeded" in verified.stdout

    # A later commit changes a signed file: the signature no longer matches.
    api.upload_file(path_or_fileobj=b"tampered", path_in_repo="weights.bin", repo_id=repo)
    doc = state(server, repo)
    assert doc["status"] == "mismatch" and doc["changed"] == ["weights.bin"], doc
    assert doc["summary"].endswith("no longer matches the files")
    page = httpx.get(f"{server.url}/{repo}/commit/main").text
    assert 'signature-mismatch">no longer matches</span>' in page and "(weights.bin)" in page
    # ... and the standard tool agrees on a fresh download.
    shutil.rmtree(folder)
    folder = Path(api.snapshot_download(repo, local_dir=tmp_path / "again"))
    refused = standard_verify(folder, public)
    assert refused.returncode != 0
    assert "weights.bin" in refused.stdout + refused.stderr
    # A new file is also a mismatch; the previous revision still verifies.
    head = api.upload_file(path_or_fileobj=b"x", path_in_repo="extra.txt", repo_id=repo).oid
    doc = state(server, repo, str(head))
    assert doc["extra"] == ["extra.txt"] and doc["changed"] == ["weights.bin"]
    assert state(server, repo, commits[0].commit_id)["status"] == "verified"


def test_signatures_sent_by_their_signer(sqlite_server: Server, tmp_path: Path) -> None:
    """The caller signs with the standard CLI and sends model.sig; the hub never sees the key."""
    server = sqlite_server
    user, api = fresh_user(server, "snd")
    token = server.user(user)
    repo = f"{user}/toy"
    make_model(api, repo)
    private, public = keypair(tmp_path, "bob", ec.SECP384R1())
    folder = Path(api.snapshot_download(repo, local_dir=tmp_path / "work"))
    signature = tmp_path / "model.sig"
    signed = subprocess.run(
        [
            MODEL_SIGNING,
            "sign",
            "key",
            "--private_key",
            str(private),
            "--signature",
            str(signature),
            "--ignore-paths",
            str(folder / ".cache"),
            str(folder),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert signed.returncode == 0, signed.stdout + signed.stderr
    auth = {"Authorization": f"Bearer {token}"}
    url = f"{server.url}/api/models/{repo}/signature"

    # Not yet registered: refused, saying so.
    r = httpx.post(url, content=signature.read_bytes(), headers=auth)
    assert r.status_code == 422 and "Register the public key" in r.json()["error"]
    assert r.headers["X-Error-Code"] == "Unprocessable"

    # Registered through the API (PEM, title); listed publicly.
    r = httpx.post(
        f"{server.url}/api/signing-keys",
        headers=auth,
        json={"key": public.read_text(), "title": "ci"},
    )
    assert r.status_code == 200, r.text
    fingerprint = r.json()["fingerprint"]
    listed = httpx.get(f"{server.url}/api/signing-keys/{user}").json()
    assert [k["fingerprint"] for k in listed] == [fingerprint]
    again = httpx.post(
        f"{server.url}/api/signing-keys", headers=auth, json={"key": public.read_text()}
    )
    assert again.status_code == 409

    # Someone without write access cannot commit it.
    _, other = fresh_user(server, "oth")
    r = httpx.post(
        url, content=signature.read_bytes(), headers={"Authorization": f"Bearer {other.token}"}
    )
    assert r.status_code == 403

    r = httpx.post(url, content=signature.read_bytes(), headers=auth)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "verified" and r.json()["signer"] == user
    doc = state(server, repo)
    assert doc["status"] == "verified" and doc["keyTitle"] == "ci"

    # A signature over other files, or a forged one, is refused.
    api.upload_file(path_or_fileobj=b"v2", path_in_repo="weights.bin", repo_id=repo)
    r = httpx.post(url, content=signature.read_bytes(), headers=auth)
    assert r.status_code == 422 and "no longer matches" in r.json()["error"]
    bundle = json.loads(signature.read_text())
    bundle["dsseEnvelope"]["signatures"][0]["sig"] = bundle["dsseEnvelope"]["signatures"][0]["sig"][
        ::-1
    ]
    r = httpx.post(url, content=json.dumps(bundle).encode(), headers=auth)
    assert r.status_code == 422 and "Invalid signature" in r.json()["error"]
    for hostile in (b"not json", b"[" * 100_000, b'{"a": NaN}', b"\xff\xfe"):
        r = httpx.post(url, content=hostile, headers=auth)
        assert r.status_code == 422 and "Invalid signature" in r.json()["error"], hostile[:9]
    # A model.sig committed as an ordinary file is judged the same way.
    api.upload_file(path_or_fileobj=b"[" * 100_000, path_in_repo="model.sig", repo_id=repo)
    assert state(server, repo)["status"] == "invalid"

    # Keys the library cannot sign with are refused; removing the key unverifies.
    ed = (
        ed25519.Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    r = httpx.post(f"{server.url}/api/signing-keys", headers=auth, json={"key": ed.decode()})
    assert r.status_code == 400 and "P-256" in r.json()["error"]
    r = httpx.delete(
        f"{server.url}/api/signing-keys/{fingerprint}",
        headers={"Authorization": f"Bearer {other.token}"},
    )
    assert r.status_code == 403
    assert httpx.delete(f"{server.url}/api/signing-keys/{fingerprint}", headers=auth).is_success
    log = httpx.get(f"{server.url}/api/audit-log/{user}", headers=auth).json()
    kinds = [(e["kind"], e["data"].get("fingerprint")) for e in log if "signing_key" in e["kind"]]
    assert kinds == [("signing_key.added", fingerprint), ("signing_key.removed", fingerprint)]
    commit = r = api.list_repo_commits(repo)[1].commit_id
    assert state(server, repo, commit)["status"] == "unknown-key"


def test_organisation_keys_and_signed_release_check(sqlite_server: Server, tmp_path: Path) -> None:
    server = sqlite_server
    user, api = fresh_user(server, "org")
    org = f"{user}-lab"
    server.cli("org", "create", org, f"--member={user}:admin")
    repo = f"{org}/toy"
    make_model(api, repo)
    private, public = keypair(tmp_path, "lab")
    auth = {"Authorization": f"Bearer {api.token}"}
    plan = {
        "stages": [{"name": "public", "audience": "public", "conditions": {"checks": ["signed"]}}]
    }
    url = f"{server.url}/api/models/{repo}/release-plan"
    assert httpx.put(url, json=plan, headers=auth).status_code == 200
    r = httpx.post(f"{url}/promote", json={}, headers=auth)
    assert r.status_code == 409, r.text
    assert "main: not signed" in r.text

    # Signed with a key nobody registered: not good enough, and said so.
    out = server.cli("sign", repo, "--key", str(private))
    assert "is not registered here" in out.stderr
    assert state(server, repo)["status"] == "unknown-key"
    r = httpx.post(f"{url}/promote", json={}, headers=auth)
    assert r.status_code == 409 and "main: Signed with key SHA256:" in r.text

    # The organisation registers it (its admin may): the same revision is now verified.
    r = httpx.post(
        f"{server.url}/api/signing-keys",
        headers=auth,
        json={"key": public.read_text(), "account": org},
    )
    assert r.status_code == 200, r.text
    doc = state(server, repo)
    assert (doc["status"], doc["signer"]) == ("verified", org)
    r = httpx.post(f"{url}/promote", json={}, headers=auth)
    assert r.status_code == 200, r.text

    # A member who is not an admin of the organisation cannot manage its keys.
    reader, reader_api = fresh_user(server, "rdr")
    server.cli("org", "add-member", org, reader, "--role", "write")
    other = keypair(tmp_path, "other")[1].read_text()
    r = httpx.post(
        f"{server.url}/api/signing-keys",
        headers={"Authorization": f"Bearer {reader_api.token}"},
        json={"key": other, "account": org},
    )
    assert r.status_code == 403


def test_signing_a_dataset_at_a_tag(sqlite_server: Server, tmp_path: Path) -> None:
    server = sqlite_server
    user, api = fresh_user(server, "dsig")
    data = f"{user}/rows"
    api.create_repo(data, repo_type="dataset")
    api.upload_file(
        path_or_fileobj=b"a,b\n1,2\n", path_in_repo="train.csv", repo_id=data, repo_type="dataset"
    )
    api.create_tag(data, tag="v1", repo_type="dataset")
    private, public = keypair(tmp_path, "d")
    server.cli("key", "add", user, str(public))
    args = ["sign", data, "--type", "dataset", "--revision", "v1", "--key", str(private)]
    refused = server.cli(*args, check=False)
    assert refused.returncode != 0 and "--branch" in refused.stdout + refused.stderr
    server.cli(*args, "--branch", "main")
    r = httpx.get(f"{server.url}/api/datasets/{data}/signature", params={"revision": "main"})
    assert (r.json()["status"], r.json()["signedFiles"]) == ("verified", 1)
    tagged = httpx.get(f"{server.url}/api/datasets/{data}/signature", params={"revision": "v1"})
    assert tagged.json()["status"] == "unsigned"  # the tag still names the signed commit
    folder = Path(api.snapshot_download(data, repo_type="dataset", local_dir=tmp_path / "d"))
    assert standard_verify(folder, public).returncode == 0
