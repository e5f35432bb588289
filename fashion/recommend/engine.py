"""The in-process recommendation API: one object holding the model, the catalog and the recommender.

    engine = Engine.open("runs/sample/best.pt")            # builds/updates the catalog if needed
    [query] = engine.describe(["photo.jpg"])               # one batch through the network
    results = engine.recommend(query, top_k=5, filters=Filters(colour="blue"))
    print([r.to_dict() for r in results])

``recommend.py``, a web server and the feedback module all use this; none of them touches the
model or the index files directly.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
from PIL import Image

from fashion.config import Config, load_config
from fashion.index.builder import Log, log_to_stderr, open_catalog
from fashion.index.catalog import Catalog, default_index_dir
from fashion.io_utils import file_checksum
from fashion.model.checkpoint import LoadedModel, load_model
from fashion.model.encoder import Encoder
from fashion.recommend.garments import GarmentQuery, body_part_hint
from fashion.recommend.recommender import (
    Filters,
    Query,
    Recommender,
    Rerank,
    Result,
    Weights,
    describe_predictions,
)

ImageInput = str | Path | bytes | Image.Image


@dataclass
class Engine:
    """A model, its catalog and a recommender, ready to answer queries."""

    loaded: LoadedModel
    catalog: Catalog
    recommender: Recommender
    config: Config
    catalog_folder: Path | None  # None: the gallery of the training data
    _keys_by_path: dict[str, str] | None = field(default=None, repr=False)
    _encoder: Encoder | None = field(default=None, repr=False)

    @property
    def encoder(self) -> Encoder:
        """The one feature extractor (:mod:`fashion.model.encoder`), with this engine's settings."""
        if self._encoder is None:
            self._encoder = Encoder.from_config(self.loaded, self.config)
        return self._encoder

    @classmethod
    def open(cls, checkpoint: str | Path, catalog: str | Path | None = None, config: Config | None = None, *,
             index_dir: str | Path | None = None, device: str = "auto", update: bool = True,
             progress: bool = True, log: Log = log_to_stderr) -> "Engine":
        """Load a checkpoint and its catalog (built or updated first when needed).

        ``catalog``: a folder of images to recommend from (default: the test split of the
        checkpoint's training data). ``config``: settings for the catalog, colour and recommend
        sections (default: ``hyper_parameters.yaml``). ``index_dir``: where the index lives
        (default :func:`fashion.index.catalog.default_index_dir`). ``update=False`` uses an existing
        index as it is (only a missing or foreign one is built).
        """
        config = config or load_config()
        loaded = load_model(checkpoint, device=device)
        folder = Path(catalog).expanduser() if catalog is not None else None
        directory = Path(index_dir) if index_dir is not None else default_index_dir(Path(checkpoint), folder)
        opened = open_catalog(loaded, config, directory, folder, update=update, progress=progress, log=log)
        recommender = Recommender(opened, loaded.labels, config.recommend, config.colour)
        return cls(loaded, opened, recommender, config, folder)

    # -- queries

    def describe(self, images: Sequence[ImageInput], names: Sequence[str] | None = None) -> list[Query]:
        """Describe query images (paths, raw file bytes or PIL images) in one network batch.

        Raises :class:`fashion.data.images.ImageLoadError` for a file that is missing, empty, not an
        image or too large.
        """
        return self._describe_loaded(*self._load(images, names))

    def describe_each(self, images: Sequence[ImageInput], names: Sequence[str] | None = None) -> list[Any]:
        """:meth:`describe` for images that stand alone (a web server's uploads from several
        shoppers, described in one network batch): an image that cannot be read gives its
        :class:`fashion.data.images.ImageLoadError` in its place instead of failing the others."""
        from fashion.data.images import ImageLoadError

        loaded: list[Any] = []
        for number, image in enumerate(images):
            name = names[number] if names else (f"upload {number + 1}" if isinstance(image, (bytes, bytearray))
                                                else f"image {number + 1}" if isinstance(image, Image.Image)
                                                else str(image))  # as describe() names them
            try:
                loaded.append(self._load([image], [name]))
            except ImageLoadError as error:
                loaded.append(error)
        good = [item for item in loaded if not isinstance(item, ImageLoadError)]
        pictures, checksums, labels, keys = ([item[part][0] for item in good] for part in range(4))
        described = iter(self._describe_loaded(pictures, checksums, labels, keys))
        return [item if isinstance(item, ImageLoadError) else next(described) for item in loaded]

    def _describe_loaded(self, pictures: list[Image.Image], checksums: list[str], labels: list[str],
                         keys: list[str | None]) -> list[Query]:
        from fashion.colour.palette import Palette

        if not pictures:
            return []
        # A catalog image as the query is seen exactly as the catalog saw it: cropped to its box.
        features = self.encoder.encode_images(pictures, [self._bbox_of_key(key) for key in keys])
        queries = []
        for i in range(len(pictures)):
            used = features.palette_shares[i] > 0
            palette = Palette(features.palette_lab[i][used], features.palette_rgb[i][used], features.palette_shares[i][used])
            categories, attributes = describe_predictions(self.loaded.labels, features.category_probs[i],
                                                          features.attribute_probs[i], self.config.recommend)
            queries.append(Query(labels[i], checksums[i], features.embeddings[i], features.category_probs[i],
                                 features.attribute_probs[i], palette, categories, attributes, key=keys[i]))
        return queries

    def _load(self, images: Sequence[ImageInput], names: Sequence[str] | None
              ) -> tuple[list[Image.Image], list[str], list[str], list[str | None]]:
        """Decode query images: (pictures, checksums, display names, catalog keys or None)."""
        from fashion.data.images import check_query_picture, load_image, load_image_bytes

        max_pixels = self.config.data.max_image_pixels
        pictures, checksums, labels, keys = [], [], [], []
        for number, item in enumerate(images):
            key = None
            if isinstance(item, Image.Image):
                picture = item.convert("RGB")
                checksum = hashlib.sha256(picture.tobytes()).hexdigest()
                label = f"image {number + 1}"
            elif isinstance(item, (bytes, bytearray)):
                label = names[number] if names else f"upload {number + 1}"
                picture = load_image_bytes(bytes(item), label, max_pixels=max_pixels)
                checksum = hashlib.sha256(item).hexdigest()
            else:
                picture = load_image(item, max_pixels=max_pixels)
                checksum = file_checksum(Path(item))
                label = str(item)
                key = self._key_of_path().get(str(Path(item).resolve()))
            check_query_picture(picture, names[number] if names else label)
            pictures.append(picture)
            checksums.append(checksum)
            labels.append(names[number] if names else label)
            keys.append(key)
        return pictures, checksums, labels, keys

    def describe_garments(self, image: ImageInput, part: str | None = None,
                          name: str | None = None) -> list[GarmentQuery]:
        """Shop the look: each garment the segmenter finds in one photo as its own query.

        Each garment is seen through its own crop and described by its own pixels' palette; its
        body part leans the category probabilities (``recommend.body_part_hint``). A photo without a
        person (a product shot) gives one garment. ``part`` keeps one body part only
        (:class:`fashion.model.encoder.EncoderError` when the photo does not show it).
        """
        from fashion.colour.palette import Palette

        [picture], [checksum], [label], _ = self._load([image], [name] if name else None)
        garments, features = self.encoder.encode_garments(picture, part)
        labels = self.loaded.labels
        found = []
        for i, garment in enumerate(garments):
            used = features.palette_shares[i] > 0
            palette = Palette(features.palette_lab[i][used], features.palette_rgb[i][used],
                              features.palette_shares[i][used])
            category_probs = body_part_hint(features.category_probs[i], labels.category_types, garment.part,
                                            self.config.recommend.body_part_hint)
            categories, attributes = describe_predictions(labels, category_probs, features.attribute_probs[i],
                                                          self.config.recommend)
            query = Query(f"{label} [{garment.part}]", checksum, features.embeddings[i], category_probs,
                          features.attribute_probs[i], palette, categories, attributes)
            found.append(GarmentQuery(garment.part, garment.box, garment.share, query))
        return found

    def _key_of_path(self) -> dict[str, str]:
        """Catalog key of each catalog image's absolute path (built on first use)."""
        if self._keys_by_path is None:
            self._keys_by_path = dict(zip(self.catalog.items["path"], self.catalog.items["key"]))
        return self._keys_by_path

    def _bbox_of_key(self, key: str | None) -> tuple[int, int, int, int] | None:
        signature = self.catalog.manifest.get("files", {}).get(key) if key else None
        return tuple(signature[2]) if signature and signature[2] else None  # type: ignore[return-value]

    def combine(self, queries: Sequence[Query], name: str | None = None) -> Query:
        """One query from several images (an outfit, several photos of one garment): mean embedding
        (re-normalised), mean category and attribute probabilities, pooled palette."""
        from fashion.colour.palette import Palette

        if len(queries) == 1:
            return queries[0]
        embedding = np.mean([q.embedding for q in queries], axis=0)
        embedding = (embedding / max(np.linalg.norm(embedding), 1e-12)).astype(np.float32)
        category_probs = np.mean([q.category_probs for q in queries], axis=0)
        attribute_probs = np.mean([q.attribute_probs for q in queries], axis=0)
        rgb = np.concatenate([q.palette.rgb for q in queries])
        shares = np.concatenate([q.palette.shares / len(queries) for q in queries])
        keep = np.argsort(-shares, kind="stable")[: self.config.colour.palette_size]
        palette = Palette.from_rgb(rgb[keep], shares[keep])
        categories, attributes = describe_predictions(self.loaded.labels, category_probs, attribute_probs,
                                                      self.config.recommend)
        checksum = hashlib.sha256(embedding.astype("<f4").tobytes()).hexdigest()
        return Query(name or " + ".join(q.name for q in queries), checksum, embedding, category_probs,
                     attribute_probs, palette, categories, attributes)

    def recommend(self, query: Query, top_k: int | None = None, weights: Weights | None = None,
                  filters: Filters | None = None, exclude: Iterable[str] = (),
                  adjustments: dict[str, float] | None = None, rerank: Rerank | None = None) -> list[Result]:
        """The best catalog items for ``query`` (see :meth:`fashion.recommend.recommender.Recommender.recommend`)."""
        return self.recommender.recommend(query, top_k=top_k, weights=weights, filters=filters, exclude=exclude,
                                          adjustments=adjustments, rerank=rerank)

    def default_weights(self) -> Weights:
        """The configured blend weights (``recommend.weights``; see :mod:`fashion.recommend.components`)."""
        return Weights.from_config(self.config.recommend)

    # -- lookups

    def categories(self, text: str = "") -> list[dict[str, Any]]:
        """Categories whose name contains ``text`` (see :func:`fashion.recommend.lookup.category_rows`)."""
        from fashion.recommend.lookup import category_rows

        return category_rows(self.loaded.labels, self.catalog, text)

    def attributes(self, text: str = "") -> list[dict[str, Any]]:
        """Attributes whose name or type contains ``text``: id, name, type, catalog items predicting it."""
        from fashion.recommend.lookup import attribute_rows

        return attribute_rows(self.loaded.labels, self.catalog, self.config.recommend.attribute_threshold, text)

    def describe_catalog(self) -> dict[str, Any]:
        """Where the catalog comes from and how it is searched (for reports and JSON output)."""
        return {"index": str(self.catalog.directory), "items": len(self.catalog),
                "source": self.catalog.manifest.get("source", {}).get("root"),
                "search": self.recommender.index.name}
