"""The cloud comes back after a restart and after kill -9: every stack, version, alias, API and image, same ids.

A push-like sequence through boto3 (ECR repository, layers in parts, PutImage, then the project's
own translated SAM template as a change set, twice: v1 then v2), a snapshot of everything a
client can see (timestamps left out: a replay's are its own), a restart on the same state dir,
and the same snapshot again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from deployer.config import DeployConfig
from deployer.local.cloud.emulator import EmulatorServer
from deployer.local.cloud.emulator.journal import JOURNAL_FILE, Journal
from deployer.template import generate, load_model_manifest, translate
from tests.functional.cloud.conftest import client

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / "examples" / "iris" / "model"
REPOSITORY = "iris"


def push_like(url: str, version: str) -> None:
    """What push does, by hand: image blobs and manifest to ECR, then the stack through a change set."""
    ecr, cfn = client("ecr", url), client("cloudformation", url)
    if not ecr.describe_repositories()["repositories"]:
        ecr.create_repository(repositoryName=REPOSITORY, imageTagMutability="IMMUTABLE")
    layer = hashlib.sha256(version.encode()).digest() * 70_000  # 2.1 MiB of this version's bytes
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {}, "rootfs": {"type": "layers"}}).encode()
    digests = [_upload(ecr, data) for data in (config, layer)]
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": digests[0], "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": digests[1], "size": len(layer)}],
    })  # fmt: skip
    ecr.put_image(repositoryName=REPOSITORY, imageTag=version, imageManifest=manifest)
    uri = f"123456789012.dkr.ecr.us-east-1.amazonaws.com/{REPOSITORY}:{version}"
    manifest_json = {**load_model_manifest(EXAMPLE), "version": version}
    body = json.dumps(translate(generate(manifest_json, DeployConfig()), region="us-east-1", parameters={"ImageUri": uri}))
    exists = any(s["StackStatus"] != "DELETE_COMPLETE" for s in cfn.list_stacks()["StackSummaries"])
    change_set = cfn.create_change_set(
        StackName="onnx-iris", ChangeSetName=f"push-{version}", TemplateBody=body,
        ChangeSetType="UPDATE" if exists else "CREATE", Parameters=[{"ParameterKey": "ImageUri", "ParameterValue": uri}],
        Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"],
    )  # fmt: skip
    cfn.execute_change_set(ChangeSetName=change_set["Id"])
    status = cfn.describe_stacks(StackName="onnx-iris")["Stacks"][0]["StackStatus"]
    assert status in ("CREATE_COMPLETE", "UPDATE_COMPLETE"), status


def _upload(ecr: Any, data: bytes, part: int = 1 << 20) -> str:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    if ecr.batch_check_layer_availability(repositoryName=REPOSITORY, layerDigests=[digest])["layers"]:
        return digest
    upload_id = ecr.initiate_layer_upload(repositoryName=REPOSITORY)["uploadId"]
    for first in range(0, len(data), part):
        chunk = data[first : first + part]
        ecr.upload_layer_part(repositoryName=REPOSITORY, uploadId=upload_id, partFirstByte=first,
                              partLastByte=first + len(chunk) - 1, layerPartBlob=chunk)  # fmt: skip
    ecr.complete_layer_upload(repositoryName=REPOSITORY, uploadId=upload_id, layerDigests=[digest])
    return digest


def snapshot(url: str, state: Path) -> dict[str, Any]:
    """What clients see of the stack, function, API and images (and the blobs' bytes), timestamps left out."""
    cfn, lam, gateway, ecr = (client(s, url) for s in ("cloudformation", "lambda", "apigateway", "ecr"))
    stack = cfn.describe_stacks(StackName="onnx-iris")["Stacks"][0]
    resources = cfn.describe_stack_resources(StackName="onnx-iris")["StackResources"]
    events = cfn.describe_stack_events(StackName="onnx-iris")["StackEvents"]
    function = lam.get_function(FunctionName="onnx-iris")["Configuration"]
    versions = lam.list_versions_by_function(FunctionName="onnx-iris")["Versions"]
    images = ecr.describe_images(repositoryName=REPOSITORY)["imageDetails"]
    blobs = {}
    for image in ecr.batch_get_image(repositoryName=REPOSITORY, imageIds=[{"imageDigest": i["imageDigest"]} for i in images])["images"]:
        manifest = json.loads(image["imageManifest"])
        for blob in [manifest["config"], *manifest["layers"]]:
            path = state / "blobs" / "sha256" / blob["digest"].split(":", 1)[1]
            blobs[blob["digest"]] = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None
    apis = gateway.get_rest_apis()["items"]
    return {
        "stack": {k: stack.get(k) for k in ("StackId", "StackStatus", "Outputs", "Parameters", "Tags", "ChangeSetId")},
        "change_sets": [c["ChangeSetId"] for c in cfn.list_change_sets(StackName="onnx-iris")["Summaries"]],
        "resources": sorted((r["LogicalResourceId"], r.get("PhysicalResourceId", ""), r["ResourceType"]) for r in resources),
        "events": [(e["EventId"], e["LogicalResourceId"], e["ResourceStatus"]) for e in events],
        "function": {k: function.get(k) for k in ("FunctionArn", "RevisionId", "Version", "CodeSha256", "Role")},
        "versions": [(v["Version"], v.get("RevisionId"), lam.get_function(FunctionName="onnx-iris", Qualifier=v["Version"])["Code"]["ImageUri"])
                     for v in versions],  # fmt: skip
        "aliases": [(a["Name"], a["FunctionVersion"], a.get("RevisionId"), a.get("RoutingConfig"))
                    for a in lam.list_aliases(FunctionName="onnx-iris")["Aliases"]],  # fmt: skip
        "apis": [(a["id"], a["name"]) for a in apis],
        "stages": [(s["stageName"], s["deploymentId"]) for a in apis for s in gateway.get_stages(restApiId=a["id"])["item"]],
        "images": sorted((tuple(i.get("imageTags", [])), i["imageDigest"]) for i in images),
        "blobs": blobs,
        "layers": sorted((layer["layerDigest"], layer["layerAvailability"], layer["layerSize"]) for layer in
                         ecr.batch_check_layer_availability(repositoryName=REPOSITORY, layerDigests=list(blobs))["layers"]),
    }  # fmt: skip


def test_every_resource_comes_back_the_same_after_a_restart(tmp_path: Path) -> None:
    with EmulatorServer(state_dir=tmp_path) as server:
        push_like(server.url, "v1")
        push_like(server.url, "v2")
        before = snapshot(server.url, tmp_path)
    assert [a[1] for a in before["aliases"]] == ["2"] and len(before["versions"]) == 3  # $LATEST, 1, 2
    assert all(before["blobs"].values()) and before["stack"]["StackStatus"] == "UPDATE_COMPLETE"
    assert len(before["layers"]) == len(before["blobs"]) == 3  # one config for both versions, a layer each
    journal_bytes = (tmp_path / "journal" / JOURNAL_FILE).stat().st_size
    assert journal_bytes < 500_000  # the 4 MiB of layers are in the blobs, not copied into the journal

    with EmulatorServer(state_dir=tmp_path) as server:
        assert server.replay.diverged == [] and server.replay.records > 10
        assert snapshot(server.url, tmp_path) == before
        assert_served(server, "v2")
        push_like(server.url, "v3")  # and it goes on from there
        assert [a[1] for a in snapshot(server.url, tmp_path)["aliases"]] == ["3"]


def assert_served(server: EmulatorServer, tag: str) -> None:
    """What the daemon reads in-process: the manifest of the alias's image, and every blob it names."""
    manifest = server.image_manifest(REPOSITORY, tag)
    assert manifest is not None
    for blob in [manifest["config"], *manifest["layers"]]:
        path = server.blob_path(blob["digest"])
        assert path is not None and "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest() == blob["digest"]


def test_the_same_after_kill_9_of_a_server_in_another_process(tmp_path: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "tests.functional.cloud.serve", str(tmp_path)], cwd=ROOT,
                            stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})  # fmt: skip
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:"), url
        push_like(url, "v1")
        push_like(url, "v2")
        ecr = client("ecr", url)  # and a layer upload left half done
        upload_id = ecr.initiate_layer_upload(repositoryName=REPOSITORY)["uploadId"]
        ecr.upload_layer_part(repositoryName=REPOSITORY, uploadId=upload_id, partFirstByte=0, partLastByte=2, layerPartBlob=b"abc")
        before = snapshot(url, tmp_path)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)

    with EmulatorServer(state_dir=tmp_path) as server:
        assert server.replay.diverged == []
        assert snapshot(server.url, tmp_path) == before
        assert_served(server, "v2")
        ecr = client("ecr", server.url)  # the half-done upload goes on where it stopped
        ecr.upload_layer_part(repositoryName=REPOSITORY, uploadId=upload_id, partFirstByte=3, partLastByte=5, layerPartBlob=b"def")
        digest = ecr.complete_layer_upload(repositoryName=REPOSITORY, uploadId=upload_id, layerDigests=["x"])["layerDigest"]
        path = server.blob_path(digest)
        assert path is not None and path.read_bytes() == b"abcdef"


def test_a_torn_last_record_is_dropped_with_a_warning_and_the_rest_comes_back(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with EmulatorServer(state_dir=tmp_path) as server:
        push_like(server.url, "v1")
        before = snapshot(server.url, tmp_path)
        client("apigateway", server.url).create_rest_api(name="in flight")  # the record the crash tears
    reader = Journal(tmp_path / "journal")
    records = len(reader.open())
    reader.close()
    journal = tmp_path / "journal" / JOURNAL_FILE
    data = journal.read_bytes()
    journal.write_bytes(data[: data.rindex(b"OLJ1") + 40])  # the last write cut short

    with caplog.at_level(logging.WARNING), EmulatorServer(state_dir=tmp_path) as server:
        assert server.replay.dropped_tail > 0 and server.replay.records == records - 1
        assert "dropped a torn last record" in caplog.text
        assert snapshot(server.url, tmp_path) == before
        assert [a["name"] for a in client("apigateway", server.url).get_rest_apis()["items"]] == ["onnx-iris"]
