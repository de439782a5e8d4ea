"""Settings and file-system errors at the boundary: one line, exit status 2, never a traceback."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from graphkit.cli import main
from graphkit.errors import ConfigError
from graphkit.settings import Settings
from graphkit.settings_rules import RULES

HAND = Path(__file__).resolve().parent.parent / "fixtures" / "hand"
EVENTS, ACCOUNTS = str(HAND / "events.csv"), str(HAND / "accounts.csv")


def test_every_setting_has_a_rule() -> None:
    assert {f.name for f in dataclasses.fields(Settings)} == set(RULES)


@pytest.mark.parametrize("field,value", [
    ("lsh_bands", 0), ("resolution", -1.0), ("resolution", float("nan")),
    ("resolution", float("inf")), ("min_community_size", -3), ("seed", 1.5),
    ("max_entity_degree", "2000"), ("flag_threshold", True), ("signal_weights", {"ip": -1}),
    ("signal_weights", [1, 2]), ("profile_indicators", "volume"), ("method", 3),
    ("top_entities_shown", -1), ("human_hour_entropy", 1.0), ("resource_correlation", 1.0),
    ("resource_correlation", -0.1),
])
def test_bad_values_raise_one_config_error(field: str, value: object) -> None:
    with pytest.raises(ConfigError) as err:
        Settings(**{field: value})
    assert field in str(err.value) and "\n" not in str(err.value)


def test_json_integers_written_as_floats_are_accepted() -> None:
    s = Settings.from_dict({"seed": 7.0, "lsh_bands": 16.0})
    assert s.seed == 7 and isinstance(s.seed, int)


def _detect(tmp_path: Path, *extra: str) -> tuple[int, str]:
    res = CliRunner().invoke(main, ["detect", EVENTS, "--accounts", ACCOUNTS,
                                    "--out", str(tmp_path / "out"), *extra])
    return res.exit_code, res.output


def _settings_file(tmp_path: Path, data: object) -> str:
    p = tmp_path / "settings.json"
    p.write_text(json.dumps(data))
    return str(p)


@pytest.mark.parametrize("case", [
    "json-type", "json-not-object", "lsh-bands-0", "min-size-neg", "resolution-neg",
    "resolution-nan", "top-neg", "missing-accounts", "missing-events", "unreadable-settings",
    "read-only-out", "out-is-file",
])
def test_cli_errors_are_one_line_exit_2(tmp_path: Path, case: str) -> None:
    args: list[str] = {
        "json-type": ["--settings", _settings_file(tmp_path, {"resolution": "high"})],
        "json-not-object": ["--settings", _settings_file(tmp_path, [1, 2])],
        "lsh-bands-0": ["--settings", _settings_file(tmp_path, {"lsh_bands": 0})],
        "min-size-neg": ["--settings", _settings_file(tmp_path, {"min_community_size": -3})],
        "resolution-neg": ["--resolution", "-1"],
        "resolution-nan": ["--resolution", "nan"],
        "top-neg": ["--top", "-5"],
        "missing-accounts": [],
        "missing-events": [],
        "unreadable-settings": ["--settings", str(tmp_path / "nope.json")],
        "read-only-out": [],
        "out-is-file": [],
    }[case]
    if case == "missing-accounts":
        res = CliRunner().invoke(main, ["detect", EVENTS, "--accounts", str(tmp_path / "no.csv"),
                                        "--out", str(tmp_path / "out")])
        code, out = res.exit_code, res.output
    elif case == "missing-events":
        res = CliRunner().invoke(main, ["detect", str(tmp_path / "no.csv"),
                                        "--out", str(tmp_path / "out")])
        code, out = res.exit_code, res.output
    elif case == "read-only-out":
        if os.geteuid() == 0:  # root writes anywhere: a path under a regular file instead
            (tmp_path / "f").write_text("x")
            res = CliRunner().invoke(main, ["detect", EVENTS, "--out",
                                            str(tmp_path / "f" / "out")])
        else:
            ro = tmp_path / "ro"
            ro.mkdir(mode=0o555)
            res = CliRunner().invoke(main, ["detect", EVENTS, "--out", str(ro / "out")])
        code, out = res.exit_code, res.output
    elif case == "out-is-file":
        (tmp_path / "out").write_text("not a directory")
        code, out = _detect(tmp_path)
    else:
        code, out = _detect(tmp_path, *args)
    assert code == 2, out
    lines = out.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), out
    assert "Traceback" not in out


def _bad_values(name: str) -> list[object]:
    """Values the rule of ``name`` refuses: a wrong JSON type, and each side of its range."""
    rule = RULES[name]
    wrong_type = {"int": 1.5, "float": "high", "str": 3, "bool": "yes", "names": "one",
                  "weights": {"ip": -1}, "columns": [1]}[rule.type]
    out: list[object] = [wrong_type, None]
    if rule.type in ("int", "float"):
        if rule.low is not None:
            out.append(rule.low if rule.low_open else rule.low - 1)
        if rule.high is not None:
            out.append(rule.high if rule.high_open else rule.high + 1)
        if rule.type == "float":
            out.append("NaN")  # json.dumps writes float("nan") as NaN, which JSON readers accept
    return out


@pytest.mark.parametrize("name", sorted(RULES))
def test_every_field_refused_from_a_settings_file_in_one_line(tmp_path: Path, name: str) -> None:
    for i, value in enumerate(_bad_values(name)):
        path = tmp_path / f"s{i}.json"
        text = json.dumps({name: value})
        path.write_text(text.replace('"NaN"', "NaN"))
        res = CliRunner().invoke(main, ["detect", EVENTS, "--settings", str(path),
                                        "--out", str(tmp_path / "out")])
        lines = res.output.strip().splitlines()
        assert res.exit_code == 2, (name, value, res.output)
        assert len(lines) == 1 and lines[0].startswith("error: ") and name in lines[0], (
            name, value, res.output)
        assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("args", [
    ["--flag-fdr", "0"], ["--flag-fdr", "1.5"], ["--flag-fdr", "nan"],
    ["--flag-threshold", "2"], ["--flag-threshold", "-0.1"], ["--resolution", "inf"],
    ["--resolution", "0"], ["--pseudonymize", "?!"], ["--identifier", ":device"],
])
def test_bad_command_line_values_are_one_line_exit_2(tmp_path: Path, args: list[str]) -> None:
    code, out = _detect(tmp_path, *args)
    assert code == 2, out
    assert len(out.strip().splitlines()) == 1 and "Traceback" not in out, out
    assert not (tmp_path / "out").exists()
