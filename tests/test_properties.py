"""Property-based tests (hypothesis) for the three text parsers users feed by hand.

- ``--set key=value`` overrides: any text parses or raises ConfigError naming the key; typed
  literals round-trip.
- DeepFashion ``list_*.txt`` files: any bytes parse or raise DatasetError; generated valid tables
  round-trip exactly (names with spaces split from the right).
- CSV datasets: any CSV text loads or raises DatasetError.
"""

from __future__ import annotations

import dataclasses
import itertools
import warnings
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fashion.config import (
    Config,
    ConfigError,
    command_line_overrides,
    load_config,
    parse_overrides,
)
from fashion.data.datasets import DatasetError, load_dataset, read_deepfashion_list
from fashion.data.datasets.common import BadRows

PROPERTY = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
_counter = itertools.count()


def _fresh(tmp_path: Path) -> Path:
    """A new folder per hypothesis example (tmp_path is shared by all examples of one test)."""
    folder = tmp_path / f"ex{next(_counter)}"
    folder.mkdir()
    return folder


# --------------------------------------------------------------------------- config overrides

_SECTIONS = {f.name: getattr(Config(), f.name) for f in dataclasses.fields(Config)}
KEYS = sorted(f"{name}.{spec.name}" for name, section in _SECTIONS.items() for spec in dataclasses.fields(section))
_TYPES = {f"{name}.{spec.name}": str(spec.type).split(" |")[0]
          for name, section in _SECTIONS.items() for spec in dataclasses.fields(section)}
KEYS_OF = {kind: [k for k, t in _TYPES.items() if t == kind] for kind in ("int", "float", "bool", "str")}


# Text that YAML may read as anything: numbers, lists, mappings, dates, tags, anchors, junk.
YAMLISH = st.one_of(
    st.text(max_size=30),
    st.sampled_from(["", " ", "1e400", "-1e400", "1" + "0" * 400, ".inf", ".nan", "~", "null", "[1, 2]", "{a: 1}",
                     "2001-01-01", "!!binary x", "&a 1", "*a", "'unterminated", '"x', "0x1F", "0o17", "1_000",
                     "yes", "no", "on", "off", "- a", "a: b", "|", ">", "%", "@", "`", "!", "? x", "\t", "\n"]),
    st.integers().map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
)


@PROPERTY
@given(key=st.one_of(st.sampled_from(KEYS), st.sampled_from(["recommend.weights.colour", "recommend.weights.x"])),
       text=YAMLISH)
def test_any_override_value_loads_or_names_the_key(key, text):
    try:
        load_config(overrides=[f"{key}={text}"])
    except ConfigError as error:
        assert key in str(error) or key.rsplit(".", 1)[0] in str(error), str(error)


@PROPERTY
@given(item=st.text(max_size=40))
def test_any_override_string_parses_or_raises_config_error(item):
    try:
        parsed = parse_overrides([item])
    except ConfigError as error:
        assert str(error)
        return
    try:
        load_config(overrides=parsed)
    except ConfigError as error:
        section = item.split("=", 1)[0].strip().split(".")[0]
        assert section in str(error), str(error)


@PROPERTY
@given(key=st.sampled_from(KEYS), value=st.one_of(st.integers(-10**30, 10**30), st.floats(allow_nan=False),
                                                  st.booleans()))
def test_literals_round_trip_as_typed(key, value):
    section, name = key.split(".")
    text = repr(value).lower() if isinstance(value, bool) else repr(value)
    try:
        config = load_config(overrides=[f"{key}={text}"])
    except ConfigError as error:
        assert key in str(error)
        return
    got = getattr(getattr(config, section), name)
    if key in KEYS_OF["str"]:
        assert got == text
    elif key in KEYS_OF["bool"]:
        assert got is value
    elif key in KEYS_OF["int"]:
        assert type(got) is int and got == value
    elif key in KEYS_OF["float"]:
        assert type(got) is float and got == float(value)


@PROPERTY
@given(text=st.text(max_size=40).filter(lambda t: not (len(t.strip()) >= 2 and t.strip()[0] == t.strip()[-1]
                                                      and t.strip()[0] in "'\"")))
def test_text_settings_take_the_text_as_typed(text):
    assert load_config(overrides=[f"data.root={text}"]).data.root == text
    _assert_run_name_taken_or_refused(lambda: load_config(overrides=[f"train.run_name={text}"]), text)


def _assert_run_name_taken_or_refused(load, name: str) -> None:
    """A run name is taken as typed when it is one folder's name, else a ConfigError naming the key."""
    from fashion.config import ConfigError

    is_folder_name = bool(name.strip()) and name not in {".", ".."} and not any(
        char in "/\\" or ord(char) < 32 or ord(char) == 127 for char in name)
    if is_folder_name:
        assert load().train.run_name == name
    else:
        with pytest.raises(ConfigError, match="^train.run_name "):
            load()


@PROPERTY
@given(sets=st.lists(st.sampled_from(["train.epochs=3", "train.run_name=a", "data.root=x"]), max_size=3),
       name=st.text(max_size=20), root=st.text(max_size=20))
def test_literal_command_line_values_win_and_are_never_parsed(sets, name, root):
    assert load_config(overrides=command_line_overrides(sets, {"data.root": root})).data.root == root
    _assert_run_name_taken_or_refused(
        lambda: load_config(overrides=command_line_overrides(sets, {"train.run_name": name, "data.root": root})), name)


# --------------------------------------------------------------------------- DeepFashion list files

_NAME_CHARS = st.characters(blacklist_categories=("Cs", "Cc", "Zs", "Zl", "Zp"))
NAMES = st.builds(lambda first, rest: first + rest,
                  _NAME_CHARS,
                  st.text(st.one_of(_NAME_CHARS, st.just(" ")), max_size=12)).map(str.rstrip)


@PROPERTY
@given(data=st.binary(max_size=300) | st.text(alphabet="0123456789 -+\n\tab\r", max_size=200).map(str.encode),
       n_values=st.integers(0, 3), header=st.booleans(), named=st.booleans(), kind=st.sampled_from(["int", "str"]),
       value_range=st.sampled_from([None, (-1, 1), (0, 50), (-10**20, 10**20)]), image_names=st.booleans(),
       mode=st.sampled_from(["error", "warn"]))
def test_any_list_file_parses_or_raises_dataset_error(tmp_path, data, n_values, header, named, kind, value_range,
                                                       image_names, mode):
    path = _fresh(tmp_path) / "list.txt"
    path.write_bytes(data)
    try:
        table = read_deepfashion_list(path, n_values, header=header, named=named, kind=kind,
                                      value_range=value_range, image_names=image_names, bad=BadRows(mode))
    except DatasetError as error:
        assert str(path) in str(error)
        return
    assert table.values.shape == (len(table), n_values)
    assert len(table.lines) == len(table.rows) == len(table)
    assert table.names is None or len(table.names) == len(table)


# Small labels (the fast one/two-byte path), any int64, and the 18/19-digit edge.
VALUES = st.one_of(st.integers(-99, 99), st.integers(-10**19, 10**19),
                   st.sampled_from([10**18 - 1, -(10**18 - 1), 10**18, -(10**18), 2**63 - 1, -(2**63), 2**63,
                                    9999999999999999999, -9999999999999999999]))


@PROPERTY
@given(rows=st.lists(st.tuples(NAMES, st.lists(VALUES, min_size=2, max_size=2)),
                     max_size=8, unique_by=lambda r: r[0]),
       signs=st.booleans(), blank_first=st.booleans())
def test_valid_list_tables_round_trip(tmp_path, rows, signs, blank_first):
    path = _fresh(tmp_path) / "list.txt"
    body = "".join(f"{name} {' '.join(('+' if signs and v >= 0 else '') + str(v) for v in values)}\n"
                   for name, values in rows)
    path.write_text(("\n" if blank_first else "") + f"{len(rows)}\nimage_name a b\n" + body, encoding="utf-8")
    fits = all(abs(v) < 10**18 for _, values in rows for v in values)
    try:
        table = read_deepfashion_list(path, 2)
    except DatasetError as error:
        assert not fits, str(error)  # only numbers beyond 18 digits may be refused
        assert "not an integer" in str(error)
        return
    assert table.names == [name for name, _ in rows]
    assert table.values.tolist() == [values for _, values in rows]  # never a silently wrong number
    assert table.lines.tolist() == list(range(3 + blank_first, 3 + blank_first + len(rows)))


@PROPERTY
@given(rows=st.lists(st.tuples(NAMES, st.integers(1, 50)), max_size=6, unique_by=lambda r: r[0]))
def test_names_with_spaces_split_from_the_right(tmp_path, rows):
    path = _fresh(tmp_path) / "list.txt"
    path.write_text(f"{len(rows)}\nname category\n" + "".join(f"{n}   {v}\n" for n, v in rows), encoding="utf-8")
    table = read_deepfashion_list(path, 1, value_range=(1, 50))
    assert table.names == [n for n, _ in rows] and table.values.ravel().tolist() == [v for _, v in rows]


# --------------------------------------------------------------------------- CSV datasets

COLUMNS = ["path", "image", "category", "item_id", "split", "x1", "y1", "x2", "y2", "attr:a", "attr: b", "other",
           " Path ", "CATEGORY"]
CELLS = st.one_of(st.sampled_from(["", "a.jpg", "b/c.png", "1", "-1", "0", "+1", "2", "train", "val", "validation",
                                   "test", "dev", "1.5", "nan", "inf", "-3", "x", '"q,uoted"', '"', "\x00", " "]),
                  st.text(max_size=6))


@st.composite
def csv_texts(draw):
    header = draw(st.lists(st.one_of(st.sampled_from(COLUMNS), st.text(max_size=5)), max_size=7))
    rows = draw(st.lists(st.lists(CELLS, min_size=0, max_size=len(header) + 1), max_size=6))
    return "\n".join(",".join(r) for r in [header, *rows]) + draw(st.sampled_from(["", "\n", "\r\n"]))


@PROPERTY
@given(text=st.one_of(csv_texts(), st.text(max_size=120)), raw=st.booleans(),
       mode=st.sampled_from(["error", "warn"]), check_files=st.booleans())
def test_any_csv_loads_or_raises_dataset_error(tmp_path, text, raw, mode, check_files):
    folder = _fresh(tmp_path)
    (folder / "a.jpg").write_bytes(b"")
    path = folder / "labels.csv"
    path.write_bytes(text.encode("utf-8", "surrogatepass") if not raw else text.encode("utf-8", "replace")[::-1])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            data = load_dataset(path, layout="csv", on_bad_rows=mode, check_files=check_files)
        except DatasetError as error:
            assert str(error)
            return
    assert len(data.frame) > 0
    assert set(data.frame["split"]) <= {"train", "val", "test"}
    assert data.attributes is None or data.attributes.shape == (len(data.frame), len(data.attribute_names))
