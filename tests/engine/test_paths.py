import os

import pytest

from audiences.engine.paths import InputPathError, resolve_input_path


@pytest.fixture
def roots(tmp_path):
    data = tmp_path / "data"
    (data / "intent" / "day=2024-05-01").mkdir(parents=True)
    secret = tmp_path / "secret"
    secret.mkdir()
    os.symlink(secret, data / "escape")
    os.symlink(data / "intent", data / "alias")
    return str(data), str(secret)


def test_resolve_input_path_when_inside_root_then_realpath(roots):
    data, _ = roots
    assert resolve_input_path(f"{data}/intent", [data]) == os.path.realpath(f"{data}/intent")
    assert resolve_input_path(f"{data}/alias", [data]) == os.path.realpath(f"{data}/intent")
    assert resolve_input_path(f"{data}/intent/./", [data]) == os.path.realpath(f"{data}/intent")


@pytest.mark.parametrize(
    "suffix",
    [
        "/../secret",
        "/intent/../../secret",
        "/escape",
        "/escape/",
        "/missing",
        "/intent/day=2024-05-01/../../..",
    ],
)
def test_resolve_input_path_when_escaping_or_missing_then_rejected(roots, suffix):
    data, _ = roots
    with pytest.raises(InputPathError):
        resolve_input_path(data + suffix, [data])


@pytest.mark.parametrize(
    "path",
    [
        "file:///etc",
        "file://{data}/intent",
        "http://x/y",
        "relative/path",
        "",
        "gcs://bucket/x",
        "{data}/intent\x00",
    ],
)
def test_resolve_input_path_when_bad_form_then_rejected(roots, path):
    data, _ = roots
    with pytest.raises(InputPathError):
        resolve_input_path(path.format(data=data), [data])


def test_resolve_input_path_when_root_is_prefix_string_then_not_confused(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data2").mkdir()
    with pytest.raises(InputPathError):
        resolve_input_path(str(tmp_path / "data2"), [str(tmp_path / "data")])


def test_resolve_input_path_when_remote_then_only_under_remote_root():
    roots = ["s3://delivr-data/intent", "gs://delivr-gcs/"]
    assert resolve_input_path("s3://delivr-data/intent/2024", roots) == "s3://delivr-data/intent/2024"
    assert resolve_input_path("gs://delivr-gcs/x", roots) == "gs://delivr-gcs/x"
    for bad in [
        "s3://delivr-data/intent/../private",
        "s3://delivr-data/intent-other",
        "s3://other/intent",
        "gs://delivr-data/intent",
        "s3://delivr-data/intent/./x",
    ]:
        with pytest.raises(InputPathError):
            resolve_input_path(bad, roots)
    with pytest.raises(InputPathError):
        resolve_input_path("s3://delivr-data/intent", ["/local/root"])
