"""One typed model for station.toml and operators.toml: mistakes stop the start, naming the
file and the key; the documented keys are the model's keys; the example in the docs loads."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import msgspec
import pytest

from station.approval import OperatorStore
from station.config import ConfigError, Limits, StationConfig, StationFile
from station.importing import make_target
from station.station import Station

DOCS = Path(__file__).resolve().parent.parent / "docs" / "configuration.md"
STATION = [sys.executable, "-m", "station.cli.main"]


def _home(tmp_path: Path, text: str) -> Path:
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    (home / "station.toml").write_text(text)
    return home


def _run(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "STATION_HOME": str(home)}
    env.pop("STATION_DEBUG", None)
    return subprocess.run([*STATION, *args], capture_output=True, text=True, env=env,
                          timeout=60, stdin=subprocess.DEVNULL)


def test_insecure_as_a_string_stops_the_start_naming_the_key_and_the_file(
    tmp_path: Path,
) -> None:
    home = _home(tmp_path, '[targets.registry]\nurl = "https://mirror.local"\ninsecure = "false"\n')
    media = tmp_path / "media"
    media.mkdir()

    result = _run("import", str(media), "--to", "registry", home=home)

    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert (
        f"{home / 'station.toml'}: [targets.registry] insecure: expected true or false, got a "
        "string" in result.stderr
    )
    assert "without quotes" in result.stderr
    assert not (home / "audit.log").exists()  # refused before anything started


def test_the_kiosk_does_not_start_either(tmp_path: Path) -> None:
    home = _home(tmp_path, '[targets.registry]\nurl = "https://mirror.local"\ninsecure = "no"\n')
    env = {**os.environ, "STATION_HOME": str(home)}
    kiosk = "import sys; from tui.main import main; sys.exit(main(sys.argv[1:]))"
    result = subprocess.run(
        [sys.executable, "-c", kiosk, "--home", str(home)],
        capture_output=True, text=True, env=env, timeout=60, stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 2
    assert "[targets.registry] insecure" in result.stderr
    assert str(home / "station.toml") in result.stderr


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ('[targets.docker]\nsocket = "unix:///run/docker.sock"\n',
         "unknown key `socket` in [targets.docker]"),
        ('[targets.registry]\nurl = "https://m.local"\ntls_verify = false\n',
         "unknown key `tls_verify` in [targets.registry]"),
        ('[targets.podman]\nurl = "unix:///run/podman.sock"\n',
         "unknown key `podman` in [targets]"),
        ('[targets.docker]\nretag = [{from = "a/", to = "b/", force = true}]\n',
         "unknown key `force` in [targets.docker.retag #1]"),
    ],
)
def test_unknown_keys_in_targets_are_refused(tmp_path: Path, text: str, words: str) -> None:
    home = _home(tmp_path, text)
    with pytest.raises(ConfigError) as refused:
        Station.open(home)
    assert str(home / "station.toml") in refused.value.message
    assert words in refused.value.message
    assert "known keys there" in str(refused.value.hint)


@pytest.mark.parametrize(
    "text",
    [
        "[limits]\nmax_file_bytes = -1\n",
        "[limits]\nmax_files = 0\n",
        '[limits]\nmax_manifest_bytes = "16"\n',
        "[limits]\nmax_bundle_bytes = 1.5\n",
        "[approval]\nexpiry_seconds = -60\n",
        "[approval]\nmax_failures = 0\n",
        "[policy]\nmax_bundle_bytes = -5\n",
    ],
)
def test_out_of_range_and_mistyped_numbers_are_refused(tmp_path: Path, text: str) -> None:
    home = _home(tmp_path, text)
    key = text.split("\n")[1].split(" =")[0]
    result = _run("verify", str(tmp_path), home=home)  # any command: the start refuses
    assert result.returncode == 2
    assert f"{key}: expected" in result.stderr
    assert str(home / "station.toml") in result.stderr


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("[policy]\nrollback_protection = 1\n", "[policy] rollback_protection: expected true"),
        ('[approval]\nallow_noninteractive = "yes"\n',
         "[approval] allow_noninteractive: expected true or false, got a string"),
        ("[policy.keys.bot]\nrevoked = 0\n", "[policy.keys.bot] revoked: expected true"),
        ('[audit]\nsyslog = "local7"\n', "[audit] syslog: invalid enum value 'local7'"),
        ('[approval]\nfirst_roles = ["root"]\n', "[approval] first_roles #1"),
        ("[approval]\nsecond_roles = []\n", "[approval] second_roles: expected a list of length"),
        ('[targets.registry]\nusername = "ops"\n',
         "[targets.registry]: username and password_file go together"),
        ("limits = 3\n", "[limits]: expected a table, got an integer"),
        ("[nonsense]\n", "unknown key `nonsense` in the top level"),
        ('[policy.keys."a b"]\nimages = "x/"\n', '[policy.keys."a b"] images: expected a list'),
        ("[trust\n", "is not valid TOML"),
    ],
)
def test_each_mistake_names_the_key(tmp_path: Path, text: str, words: str) -> None:
    home = _home(tmp_path, text)
    with pytest.raises(ConfigError) as refused:
        StationConfig.load(home)
    assert words in refused.value.message
    assert refused.value.message.startswith(str(home / "station.toml"))
    assert refused.value.exit_code == 2


def test_insecure_true_is_a_real_boolean_and_reaches_the_target(tmp_path: Path) -> None:
    home = _home(tmp_path, '[targets.registry]\nurl = "http://mirror.example.org:5000"\n')
    with pytest.raises(Exception, match="plain http on a network address"):
        make_target("registry", StationConfig.load(home))
    home = _home(tmp_path, "[targets.registry]\nurl = \"http://mirror.example.org:5000\"\n"
                 "insecure = true\n")
    target = make_target("registry", StationConfig.load(home))
    assert not target.settings.verify_tls  # type: ignore[attr-defined]


def test_no_file_means_every_default(tmp_path: Path) -> None:
    config = StationConfig.load(tmp_path)
    assert config.file == StationFile()
    assert config.limits == Limits()
    assert config.trust_dir == tmp_path / "trust"
    assert config.targets.docker is None and config.targets.registry is None


def test_a_damaged_operators_file_stops_the_start_naming_the_key(tmp_path: Path) -> None:
    home = _home(tmp_path, "")
    OperatorStore(home / "operators.toml").add("alice", "operator", "alice-pin-1")
    text = (home / "operators.toml").read_text().replace("failures = 0", "failures = -3")
    (home / "operators.toml").write_text(text)
    with pytest.raises(ConfigError, match=r"operators.toml: \[operators.alice\] failures"):
        Station.open(home)
    (home / "operators.toml").write_text(
        text.replace("failures = -3", 'failures = 0\nrole_extra = "x"')
    )
    with pytest.raises(ConfigError, match=r"unknown key `role_extra` in \[operators.alice\]"):
        Station.open(home)


def test_the_documented_example_loads(tmp_path: Path) -> None:
    example = re.search(r"### A complete example\n\n```toml\n(.*?)```", DOCS.read_text(), re.S)
    assert example is not None
    config = StationConfig.load(_home(tmp_path, example.group(1)))
    assert config.policy.required_signers == 2
    assert config.policy.keys["release-bot"].expires is not None
    assert config.targets.registry is not None and config.targets.registry.insecure is False


def _model_keys(kind: object, table: str) -> list[tuple[str, str]]:
    """(table, key) for every plain key of the model; sub-tables are walked under the name
    the docs give them (`policy.keys.NAME`, `retag` rules)."""
    info = msgspec.inspect.type_info(kind)  # type: ignore[arg-type]
    pairs = []
    for field in info.fields:  # type: ignore[attr-defined]
        inner = field.type
        if isinstance(inner, msgspec.inspect.UnionType):
            inner = next(t for t in inner.types if not isinstance(t, msgspec.inspect.NoneType))
        name = f"{table}.{field.encode_name}" if table else field.encode_name
        if isinstance(inner, msgspec.inspect.DictType):
            pairs.append((table, field.encode_name))
            inner, name = inner.value_type, f"{name}.NAME"
        elif isinstance(inner, msgspec.inspect.VarTupleType) and isinstance(
            inner.item_type, msgspec.inspect.StructType
        ):
            pairs.append((table, field.encode_name))
            inner, name = inner.item_type, "retag rules"
        if isinstance(inner, msgspec.inspect.StructType):
            pairs += _model_keys(inner.cls, name)
        else:
            pairs.append((table, field.encode_name))
    return pairs


def test_every_key_of_the_model_is_documented() -> None:
    from station.config import OperatorsFile

    text = DOCS.read_text()
    headings = re.finditer(r"^### ([^\n]+)\n(.*?)(?=^##)", text, re.S | re.M)
    sections = {re.sub(r"[`\[\]]", "", m.group(1)): m.group(2) for m in headings}
    sections["operators.NAME"] = text.split("## `operators.toml`", 1)[1]
    keys = _model_keys(StationFile, "") + _model_keys(OperatorsFile, "")
    missing = [
        f"[{t}] {k}" for t, k in keys if t and f"| `{k}` |" not in sections.get(t, "")
    ]
    assert missing == []
    assert len(keys) > 30
