"""Typed, validated configuration loaded from ``hyper_parameters.yaml``.

Each YAML section maps to one frozen dataclass. Unknown keys, wrong types and out-of-range
values fail with the dotted key name (``unknown key train.epoch; did you mean
train.epochs?``). Command-line overrides use the same dotted names (``train.epochs=3``).
"""

from __future__ import annotations

import dataclasses
import difflib
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

import yaml

from fashion.errors import FashionError

# Shipped as package data (fashion/hyper_parameters.yaml, a link to the top-level file in a checkout),
# so a non-editable install finds its defaults too.
DEFAULT_CONFIG_PATH = Path(__file__).resolve().parent / "hyper_parameters.yaml"


class ConfigError(FashionError, ValueError):
    """A configuration file or override is invalid; the message names the dotted key."""


def _choice(*options: str) -> dict[str, Any]:
    return {"choices": options}


# Seeds go to numpy, whose generators take 0 .. 2**32 - 1 (a traceback otherwise). A batch of more
# than 65,536 images never fits in memory, and a larger number overflowed islice. The sample is
# bounded so that a typo (999999999999 items) is refused instead of filling the disk.
MAX_SEED = 2**32 - 1
MAX_BATCH = 65_536
MAX_SAMPLE_ITEMS = 1_000_000
MAX_SAMPLE_VIEWS = 100


def _range(low: float | None = None, high: float | None = None) -> dict[str, Any]:
    return {"low": low, "high": high}


# A name that becomes one folder under another: "../x" or "a/b" would write outside train.run_dir,
# and "" would write the run's files into run_dir itself, beside the other runs' folders.
_FOLDER_NAME = {"folder_name": True}


def _folder_name_problem(value: str) -> str | None:
    """Why ``value`` cannot be a single folder's name, or None when it can."""
    if not value.strip():
        return "must not be empty"
    if value in {".", ".."} or any(sep in value for sep in ("/", "\\")):
        return "must be a folder name, not a path (no '/', '\\', '.' or '..')"
    if any(ord(char) < 32 or ord(char) == 127 for char in value):
        return "must not hold control characters"
    return None


@dataclass(frozen=True)
class DataConfig:
    root: str = "data/sample"
    sample: bool = True
    layout: str = field(default="auto", metadata=_choice("auto", "deepfashion", "deepfashion_fine", "folders", "csv"))
    on_bad_rows: str = field(default="error", metadata=_choice("error", "warn"))
    max_image_pixels: int = field(default=50_000_000, metadata=_range(1))
    use_bbox: bool = True
    cache_mb: int = field(default=4096, metadata=_range(0))
    val_fraction: float = field(default=0.1, metadata=_range(0.0, 0.5))
    test_fraction: float = field(default=0.1, metadata=_range(0.0, 0.5))


@dataclass(frozen=True)
class SampleConfig:
    items: int = field(default=1000, metadata=_range(1, MAX_SAMPLE_ITEMS))
    views: int = field(default=2, metadata=_range(1, MAX_SAMPLE_VIEWS))
    image_size: int = field(default=256, metadata=_range(32, 1024))
    seed: int = field(default=0, metadata=_range(0, MAX_SEED))
    # Harder views: image 1 of each item is a clean "shop" photo, the others "consumer" photos
    # (scale, crop, rotation, lighting, cluttered background, partial occlusion vary much more).
    hard: bool = False


@dataclass(frozen=True)
class ModelConfig:
    arch: str = field(default="resnet18", metadata=_choice("resnet18", "resnet34", "resnet50"))
    # none | imagenet | auto | path/to/weights.pth; auto: ImageNet where cached or downloadable (real data),
    # random initialisation for the built-in sample and offline (fashion.model.network.resolve_weights).
    weights: str = "auto"
    image_size: int = field(default=112, metadata=_range(16, 1024))
    dropout: float = field(default=0.1, metadata=_range(0.0, 0.9))
    # The retrieval embedding: the trunk's pooled features, or a trained L2-normalised projection.
    embedding: str = field(default="penultimate", metadata=_choice("penultimate", "metric"))
    embedding_dim: int = field(default=128, metadata=_range(8, 4096))


@dataclass(frozen=True)
class TrainConfig:
    run_name: str = field(default="sample", metadata=_FOLDER_NAME)
    run_dir: str = "runs"
    epochs: int = field(default=12, metadata=_range(1))
    batch_size: int = field(default=32, metadata=_range(1, MAX_BATCH))
    optimizer: str = field(default="adamw", metadata=_choice("adamw", "sgd"))
    lr: float = field(default=0.005, metadata=_range(0.0))
    weight_decay: float = field(default=0.05, metadata=_range(0.0))
    momentum: float = field(default=0.9, metadata=_range(0.0, 1.0))
    warmup_epochs: float = field(default=1.0, metadata=_range(0.0))
    label_smoothing: float = field(default=0.1, metadata=_range(0.0, 0.5))
    # Category cross-entropy weight per class = (training images of the class) ** -category_balance,
    # scaled to mean 1 over the training images: 0 = plain, 0.5 = square-root, 1 = inverse frequency.
    category_balance: float = field(default=0.0, metadata=_range(0.0, 1.0))
    attribute_loss_weight: float = field(default=4.0, metadata=_range(0.0))
    pos_weight_cap: float = field(default=10.0, metadata=_range(1.0))
    # The metric head's loss (model.embedding=metric): batch-hard triplet over P items x K views where
    # the data has items with several views, else normalised softmax over category proxies.
    metric_loss: str = field(default="triplet", metadata=_choice("triplet", "proxy"))
    metric_weight: float = field(default=1.0, metadata=_range(0.0))
    triplet_margin: float = field(default=0.2, metadata={"above": 0.0, "high": 2.0})
    triplet_views: int = field(default=2, metadata=_range(2, 64))
    # CutMix (fashion/train/cutmix.py): share of training batches mixed, and the Beta(alpha, alpha)
    # the label share is drawn from. Not with model.embedding=metric (a mixed photo has no one item).
    cutmix: float = field(default=0.0, metadata=_range(0.0, 1.0))
    cutmix_alpha: float = field(default=1.0, metadata={"above": 0.0})
    best_metric: str = field(default="category_attribute_mean", metadata=_choice(
        "category_top1", "category_top3", "category_top5", "attribute_top3_recall", "attribute_top5_recall",
        "category_attribute_mean"))
    workers: int = field(default=-1, metadata=_range(-1))
    device: str = field(default="auto", metadata=_choice("auto", "cpu", "cuda", "mps"))
    amp: bool = True
    seed: int = field(default=0, metadata=_range(0, MAX_SEED))
    max_train_batches: int = field(default=0, metadata=_range(0))
    # Minutes of training: measure the speed on the first batches, then size train.epochs to fit
    # (null: train.epochs as given). Finite and > 0.
    time_budget_min: float | None = field(default=None, metadata={"above": 0.0, "optional": True})


@dataclass(frozen=True)
class ColourConfig:
    palette_size: int = field(default=5, metadata=_range(2, 16))
    max_pixels: int = field(default=4096, metadata=_range(64))
    background_delta_e: float = field(default=12.0, metadata=_range(0.0, 100.0))
    match_delta_e: float = field(default=10.0, metadata=_range(0.0, 100.0))
    # Photos of people without an annotated box: palette from the garment pixels found by
    # fashion.segment (skin, hair and background never count). False: the border-colour model only.
    segment: bool = True
    # With segment: the person test (fashion/segment/person.py) decides whether a photo shows a
    # person, so that a flat-lay the segmenter paints a silhouette on keeps the border-colour model.
    # False: the segmenter's skin-and-hair rule (e.g. for drawings, or people unlike street photos).
    person_test: bool = True
    # Product shots: divide out the light's colour, taking the brightest pixels for white
    # (fashion/colour/constancy.py), so a white garment under warm indoor light is white, not beige.
    white_balance: bool = True
    # How colour words rank a family: "builtin" (fashion/colour/family_model.json, learned from
    # photos judged by eye: scripts/train_colour_families.py), "rules" (the share of the palette the
    # rules of fashion/colour/names.py name that family), or the path of a model file.
    family_model: str = "builtin"
    # Product shots' colour family also from the photo itself: "builtin" (fashion/colour/family_net.pt,
    # a small network trained on photos judged by eye: scripts/train_colour_net.py), "none" (the
    # palette model alone), or the path of a weights file. Run at catalog build: part of its fingerprint.
    family_net: str = "builtin"


@dataclass(frozen=True)
class CatalogConfig:
    embedding_dtype: str = field(default="float32", metadata=_choice("float32", "float16"))
    batch_size: int = field(default=64, metadata=_range(1, MAX_BATCH))
    top_attributes: int = field(default=10, metadata=_range(0))
    workers: int = field(default=-1, metadata=_range(-1))
    chunk_images: int = field(default=512, metadata=_range(1))


@dataclass(frozen=True)
class RecommendConfig:
    top_k: int = field(default=5, metadata=_range(1))
    candidate_multiple: int = field(default=10, metadata=_range(1))
    # Blend weight per score component (fashion.recommend.components; names checked there):
    # a registered component not named here weighs its registered default_weight.
    weights: dict[str, float] = field(default_factory=lambda: {"visual": 0.6, "category": 0.25, "colour": 0.15},
                                      metadata=_range(0.0))
    dedupe_items: bool = True
    # Shop the look: a garment's body part (from the segmenter) multiplies the probability of the
    # categories worn there by this much before ranking (1: no hint).
    body_part_hint: float = field(default=3.0, metadata=_range(1.0, 100.0))
    faiss_min_items: int = field(default=200_000, metadata=_range(0))
    attribute_threshold: float = field(default=0.5, metadata=_range(0.0, 1.0))
    explain_attributes: int = field(default=5, metadata=_range(1))
    colour_filter_share: float = field(default=0.2, metadata=_range(0.0, 1.0))
    # With the learned colour family model: --colour <family> keeps items a person names that colour
    # with at least this probability (chosen on clothing-dataset-small's validation split by F1).
    colour_filter_probability: float = field(default=0.3, metadata=_range(0.0, 1.0))


@dataclass(frozen=True)
class FeedbackConfig:
    enabled: bool = True
    filename: str = "feedback.sqlite"
    rocchio: bool = True
    rocchio_colour: bool = True
    rocchio_alpha: float = field(default=1.0, metadata=_range(0.0))
    rocchio_beta: float = field(default=0.75, metadata=_range(0.0))
    rocchio_gamma: float = field(default=0.15, metadata=_range(0.0))
    hide_disliked: bool = True
    session_like_weight: float = field(default=0.5, metadata=_range(0.0))
    session_dislike_weight: float = field(default=0.0, metadata=_range(0.0))
    session_consistency_z: float = field(default=0.0, metadata=_range(0.0))
    learn_weights: bool = True
    min_events: int = field(default=20, metadata=_range(2))
    weight_regularisation: float = field(default=10.0, metadata=_range(0.0))
    item_prior: bool = True
    item_prior_strength: float = field(default=0.05, metadata=_range(0.0, 0.1))
    item_prior_pseudo_count: float = field(default=10.0, metadata=_range(0.0))
    item_prior_z: float = field(default=2.0, metadata=_range(0.0))


@dataclass(frozen=True)
class WebConfig:
    host: str = "127.0.0.1"
    port: int = field(default=8000, metadata=_range(0, 65535))
    max_upload_mb: float = field(default=10.0, metadata=_range(0.001))
    max_images: int = field(default=4, metadata=_range(1, 64))
    max_top_k: int = field(default=100, metadata=_range(1))
    query_cache: int = field(default=1024, metadata=_range(1))
    describe_workers: int = field(default=-1, metadata=_range(-1, 64))
    onnx_runtime: bool = True


@dataclass(frozen=True)
class Config:
    data: DataConfig = DataConfig()
    sample: SampleConfig = SampleConfig()
    model: ModelConfig = ModelConfig()
    train: TrainConfig = TrainConfig()
    colour: ColourConfig = ColourConfig()
    catalog: CatalogConfig = CatalogConfig()
    recommend: RecommendConfig = RecommendConfig()
    feedback: FeedbackConfig = FeedbackConfig()
    web: WebConfig = WebConfig()

    def to_dict(self) -> dict[str, dict[str, Any]]:
        """The configuration as plain nested dicts (for YAML, JSON and checkpoints)."""
        return dataclasses.asdict(self)

    def replace(self, **sections: Any) -> "Config":
        """A copy with whole sections replaced (``cfg.replace(train=...)``)."""
        return dataclasses.replace(self, **sections)


def _unknown_key(dotted: str, known: Iterable[str], prefix: str) -> ConfigError:
    dotted = str(dotted)
    close = difflib.get_close_matches(dotted.rsplit(".", 1)[-1], [str(k) for k in known], n=1)
    hint = f"; did you mean {prefix}{close[0]}?" if close else ""
    return ConfigError(f"unknown key {dotted}{hint}")


def _coerce(value: Any, kind: type, dotted: str) -> Any:
    """Convert a YAML/override value to the field's type, or fail naming the key."""
    if kind is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in {"true", "false", "yes", "no", "1", "0"}:
            return value.lower() in {"true", "yes", "1"}
    elif kind is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str):
            try:
                return int(value)
            except ValueError:
                pass
    elif kind is float:
        number = None
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            try:
                number = float(value)
            except OverflowError:  # an integer beyond float range: reported as not finite below
                number = math.inf
        elif isinstance(value, str):
            try:
                number = float(value)
            except ValueError:
                pass
        if number is not None:
            if not math.isfinite(number):
                raise ConfigError(f"{dotted} must be a finite number, got {value!r}")
            return number
    elif kind is str:
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            return str(value)
        if value is None:
            return "none"
    elif kind is dict:
        if isinstance(value, Mapping) and all(isinstance(k, str) and k for k in value):
            return {k: _coerce(v, float, f"{dotted}.{k}") for k, v in value.items()}
        raise ConfigError(f"{dotted} must be a mapping of names to numbers, got {value!r}")
    raise ConfigError(f"{dotted} must be {kind.__name__}, got {value!r}")


def _check(value: Any, meta: Mapping[str, Any], dotted: str) -> None:
    if isinstance(value, Mapping):  # a mapping setting: each value within the range
        for key, item in value.items():
            _check(item, meta, f"{dotted}.{key}")
        return
    if meta.get("folder_name"):
        problem = _folder_name_problem(str(value))
        if problem:
            raise ConfigError(f"{dotted} {problem}; got {value!r}")
    choices = meta.get("choices")
    if choices and value not in choices:
        raise ConfigError(f"{dotted} must be one of {', '.join(choices)}; got {value!r}")
    low, high = meta.get("low"), meta.get("high")
    if meta.get("above") is not None and value <= meta["above"]:
        raise ConfigError(f"{dotted} must be > {meta['above']}; got {value!r}")
    if low is not None and value < low:
        raise ConfigError(f"{dotted} must be >= {low}; got {value!r}")
    if high is not None and value > high:
        raise ConfigError(f"{dotted} must be <= {high}; got {value!r}")


_FIELD_TYPES = {"str": str, "int": int, "float": float, "bool": bool, "dict": dict}

# Flat keys of earlier releases that now live in a mapping: still accepted (checkpoints and
# commands written before keep working); the mapping's other entries keep their values.
_MOVED_KEYS = {
    "recommend.weight_visual": ("weights", "visual"),
    "recommend.weight_category": ("weights", "category"),
    "recommend.weight_colour": ("weights", "colour"),
}


def _kind_of(spec: dataclasses.Field) -> type:
    name = spec.type if isinstance(spec.type, str) else getattr(spec.type, "__name__", "")
    return _FIELD_TYPES[name.split("[", 1)[0].split(" |", 1)[0]]  # "float | None": an optional float


def _move_old_keys(section_cls: type, name: str, values: Mapping[str, Any]) -> Mapping[str, Any]:
    """``recommend.weight_colour: 0.3`` → ``recommend.weights.colour: 0.3`` (see ``_MOVED_KEYS``)."""
    moved = [key for key in values if f"{name}.{key}" in _MOVED_KEYS]
    if not moved:
        return values
    values = dict(values)
    defaults = {f.name: f for f in dataclasses.fields(section_cls)}
    for key in moved:
        target, entry = _MOVED_KEYS[f"{name}.{key}"]
        current = values.get(target)
        if current is None:
            current = defaults[target].default_factory()  # type: ignore[misc]
        if not isinstance(current, Mapping):
            raise ConfigError(f"{name}.{target} must be a mapping of names to numbers, got {current!r}")
        # Checked under the name the user wrote, before it moves.
        value = _coerce(values.pop(key), float, f"{name}.{key}")
        _check(value, defaults[target].metadata, f"{name}.{key}")
        values[target] = {**current, entry: value}
    return values


def _build_section(section_cls: type, name: str, values: Mapping[str, Any]) -> Any:
    fields = {f.name: f for f in dataclasses.fields(section_cls)}
    kwargs: dict[str, Any] = {}
    values = _move_old_keys(section_cls, name, values)
    for key, raw in values.items():
        dotted = f"{name}.{key}"
        if key not in fields:
            raise _unknown_key(dotted, fields, f"{name}.")
        spec = fields[key]
        if raw is None and spec.metadata.get("optional"):  # null: the setting is off
            kwargs[key] = None
            continue
        kind = _kind_of(spec)
        value = _coerce(raw, kind, dotted)
        _check(value, spec.metadata, dotted)
        kwargs[key] = value
    return section_cls(**kwargs)


def config_from_dict(raw: Mapping[str, Any] | None) -> Config:
    """Build a validated :class:`Config` from nested dicts; missing keys take defaults."""
    raw = raw or {}
    if not isinstance(raw, Mapping):
        raise ConfigError("configuration must be a mapping of sections")
    sections = {f.name: f for f in dataclasses.fields(Config)}
    built: dict[str, Any] = {}
    for name, values in raw.items():
        if name not in sections:
            raise _unknown_key(name, sections, "")
        if values is None:
            values = {}
        if not isinstance(values, Mapping):
            raise ConfigError(f"{name} must be a mapping of keys, got {values!r}")
        built[name] = _build_section(type(getattr(Config(), name)), name, values)
    return Config(**built)


def _field_kind(section: str, key: str) -> type | None:
    """The Python type of ``section.key`` (``None`` when there is no such key: reported later)."""
    section_value = getattr(Config(), section, None)
    if section_value is None or not dataclasses.is_dataclass(section_value):
        return None
    for spec in dataclasses.fields(section_value):
        if spec.name == key:
            name = spec.type if isinstance(spec.type, str) else getattr(spec.type, "__name__", "")
            return _FIELD_TYPES.get(name.split("[", 1)[0].split(" |", 1)[0])
    return None


def _override_value(dotted: str, text: str, kind: type | None) -> Any:
    """One ``--set`` value: the literal text for text settings, otherwise a YAML scalar."""
    if kind is str:
        stripped = text.strip()
        if len(stripped) >= 2 and stripped[0] == stripped[-1] and stripped[0] in "'\"":
            # A quoted value ('a b', "x#y"): YAML's quoting rules give the text inside.
            try:
                return str(yaml.safe_load(stripped))
            except yaml.YAMLError:
                pass
        return text
    if not text.strip():
        return ""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ConfigError(f"--set {dotted}: {text!r} is not a valid value ({_yaml_problem(error)})") from None


def _read_yaml_file(text: str) -> Any:
    """YAML as :func:`yaml.safe_load` reads it, except that a key given twice in one mapping is an
    error: PyYAML keeps the last, so a second ``train:`` section silently replaced the first."""

    class UniqueKeyLoader(yaml.SafeLoader):
        def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
            seen: set[Any] = set()
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=deep)
                if not isinstance(key, (str, int, float, bool)):
                    continue  # an unhashable key is the base class's error to report
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"the key {key!r} is given twice", key_node.start_mark)
                seen.add(key)
            return super().construct_mapping(node, deep=deep)

    return yaml.load(text, Loader=UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass


def _yaml_problem(error: Exception) -> str:
    """A YAML error as one line: the problem and where (line, column)."""
    problem = getattr(error, "problem", None) or str(error).splitlines()[0]
    mark = getattr(error, "problem_mark", None)
    return f"{problem} at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else problem


def parse_overrides(overrides: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Turn ``["train.epochs=3", ...]`` into nested dicts.

    Values are YAML scalars (``3``, ``0.5``, ``true``), except for text settings (paths, names),
    which take the text as typed: ``data.root=/data/shop #2`` is that folder, ``yes`` is ``"yes"``.
    A value that is not valid YAML is a :class:`ConfigError` naming the key.
    """
    nested: dict[str, dict[str, Any]] = {}
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override {item!r} must look like section.key=value")
        dotted, text = item.split("=", 1)
        parts = dotted.strip().split(".")
        if len(parts) == 3 and all(parts) and _field_kind(parts[0], parts[1]) is dict:
            # One entry of a mapping setting: recommend.weights.colour=0.3
            value = _override_value(dotted.strip(), text, float)
            entries = nested.setdefault(parts[0], {}).setdefault(parts[1], {})
            if isinstance(entries, dict):
                entries[parts[2]] = value
            continue
        if len(parts) != 2 or not all(parts):
            raise ConfigError(f"override key {dotted!r} must look like section.key")
        value = _override_value(dotted.strip(), text, _field_kind(parts[0], parts[1]))
        nested.setdefault(parts[0], {})[parts[1]] = value
    return nested


def literal_overrides(values: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """``{"data.root": path, ...}`` → nested dicts, values used exactly as given (never parsed).

    For options such as ``--data PATH`` or ``--run-name NAME``: the value is what the user typed.
    """
    nested: dict[str, dict[str, Any]] = {}
    for dotted, value in values.items():
        section, key = dotted.split(".", 1)
        nested.setdefault(section, {})[key] = str(value) if isinstance(value, Path) else value
    return nested


def command_line_overrides(sets: Iterable[str], literal: Mapping[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    """``--set`` strings (YAML scalars) plus option values taken literally (these win)."""
    return merge(parse_overrides(sets), literal_overrides(literal or {}))


def merge(base: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """Section-wise merge of two nested config dicts; ``extra`` wins."""
    # A section that is not a mapping is kept as it is: config_from_dict reports it by name.
    merged: dict[Any, Any] = {k: dict(v or {}) if isinstance(v, Mapping) or v is None else v
                              for k, v in base.items()}
    for section, values in extra.items():
        if isinstance(merged.get(section, {}), Mapping) and isinstance(values or {}, Mapping):
            target = merged.setdefault(section, {})
            for key, value in (values or {}).items():
                # A mapping setting (recommend.weights) merges entry by entry.
                both = isinstance(value, Mapping) and isinstance(target.get(key), Mapping)
                target[key] = {**target[key], **value} if both else value
        else:
            merged[section] = values
    return merged


def load_config(path: str | Path | None = None, overrides: Iterable[str] | Mapping[str, Any] = ()) -> Config:
    """Load ``hyper_parameters.yaml`` (or ``path``) and apply dotted overrides.

    ``overrides`` is either a list of ``section.key=value`` strings or nested dicts.
    Raises :class:`ConfigError` with the dotted key name on any problem.
    """
    path = Path(path) if path else DEFAULT_CONFIG_PATH
    if path.is_dir():
        raise ConfigError(f"configuration file {path} is a folder; give a YAML file such as hyper_parameters.yaml")
    if not path.is_file():
        raise ConfigError(f"configuration file not found: {path}")
    try:
        raw = _read_yaml_file(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as error:
        raise ConfigError(f"{path} is not valid YAML: {_yaml_problem(error)}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path} is not a text (UTF-8) file: is it the right configuration file?") from None
    except RecursionError:  # PyYAML builds nested values recursively
        raise ConfigError(f"{path} is nested too deeply to be a configuration file") from None
    except OSError as error:
        raise ConfigError(f"cannot read configuration file {path}: {error.strerror or error}") from None
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{path} must hold a mapping of sections")
    extra = overrides if isinstance(overrides, Mapping) else parse_overrides(overrides)
    return config_from_dict(merge(raw, extra))


def save_config(config: Config, path: str | Path) -> None:
    """Write the resolved configuration as YAML (atomically)."""
    from fashion.io_utils import atomic_write_text

    atomic_write_text(Path(path), yaml.safe_dump(config.to_dict(), sort_keys=False))
