"""AWS::Lambda::Version: GetAtt Version, and each published version keeps the image it was published with."""

from __future__ import annotations

from tests.functional.cloud.conftest import IMAGE, Cloud, outputs, versioned


def test_getatt_version_is_the_published_number(cloud: Cloud) -> None:
    assert outputs(cloud.stack("s", versioned("one", "VersionOne")))["Version"] == "1"
    assert outputs(cloud.stack("s", versioned("two", "VersionTwo")))["Version"] == "2"


def test_an_older_version_keeps_its_image_after_the_function_moves_on(cloud: Cloud) -> None:
    cloud.stack("s", versioned("one", "VersionOne"))
    cloud.stack("s", versioned("two", "VersionTwo"))
    lam = cloud.client("lambda")
    images = {q: lam.get_function(FunctionName="model", Qualifier=q)["Code"]["ImageUri"] for q in ("1", "2", "$LATEST")}
    assert images == {"1": IMAGE.format(tag="one"), "2": IMAGE.format(tag="two"), "$LATEST": IMAGE.format(tag="two")}


def test_the_same_holds_for_versions_published_through_the_api_and_after_a_restart(cloud: Cloud) -> None:
    cloud.stack("s", versioned("one", "VersionOne"))
    lam = cloud.client("lambda")
    lam.update_function_code(FunctionName="model", ImageUri=IMAGE.format(tag="three"))
    assert lam.publish_version(FunctionName="model")["Version"] == "2"
    lam.update_function_code(FunctionName="model", ImageUri=IMAGE.format(tag="four"))
    cloud.restart()
    lam = cloud.client("lambda")
    images = [lam.get_function(FunctionName="model", Qualifier=q)["Code"]["ImageUri"] for q in ("1", "2", "$LATEST")]
    assert images == [IMAGE.format(tag=t) for t in ("one", "three", "four")]
    versions = lam.list_versions_by_function(FunctionName="model")["Versions"]
    assert [v["Version"] for v in versions] == ["$LATEST", "1", "2"]
