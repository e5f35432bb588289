"""Shop the look: one query per garment (``recommend.py --garments``), the body part as a soft
category hint, and palettes of photos of people from their garment pixels only."""

from __future__ import annotations

import json

import numpy as np
import pytest

from fashion.colour.spaces import ciede2000, rgb_to_lab
from fashion.recommend.garments import body_part_hint
from test_recommend_cli import invoke
from test_segment import NAVY, RED, person_figure, product_shot


def _de(lab, rgb) -> float:
    return float(ciede2000(np.asarray(lab, np.float32), rgb_to_lab(np.array(rgb, np.uint8))))


def test_body_part_hint_leans_towards_the_part_and_stays_a_distribution():
    probs = np.array([0.5, 0.3, 0.2], np.float32)
    types = [1, 2, 3]  # upper, lower, full body
    lower = body_part_hint(probs, types, "lower", strength=3.0)
    assert lower.sum() == pytest.approx(1.0)
    assert lower == pytest.approx(np.array([0.5, 0.9, 0.2]) / 1.6)
    assert body_part_hint(probs, types, "other", 3.0) == pytest.approx(probs)  # no category type: unchanged
    assert body_part_hint(probs, types, "upper", 1.0) == pytest.approx(probs)
    assert body_part_hint(probs, [0, 0, 0], "upper", 3.0) == pytest.approx(probs)  # model without types


def test_palette_of_a_person_photo_counts_garment_pixels_only():
    from fashion.model.encoder import ColourSettings, image_palette

    image, _ = person_figure()
    # The drawn figure is no photo of a person to the person test: the skin-and-hair rule decides.
    with_segmenter = image_palette(image, None, ColourSettings(5, 4096, 12.0, segment=True, person_test=False))
    # Skin, hair and the textured background never count: the top and trousers make the palette.
    assert min(_de(lab, RED) for lab in with_segmenter.lab) < 10.0
    assert min(_de(lab, NAVY) for lab in with_segmenter.lab) < 10.0
    shot = product_shot()
    # A product shot (no person) is described by the border-colour model, exactly as before.
    same = [image_palette(shot, None, ColourSettings(5, 4096, 12.0, segment=flag)) for flag in (True, False)]
    np.testing.assert_array_equal(same[0].lab, same[1].lab)


@pytest.fixture(scope="module")
def garments_index(tmp_path_factory):
    return tmp_path_factory.mktemp("garments") / "catalog"


def test_garments_cli_gives_one_explained_table_and_json_entry_per_garment(tiny_run, tiny_sample, garments_index,
                                                                           tmp_path):
    photo = tmp_path / "street.png"
    person_figure()[0].save(photo)
    args = [photo, "--garments", "--no-progress", "--checkpoint", tiny_run / "best.pt", "--index-dir", garments_index,
            "--set", "colour.person_test=false"]  # a drawn figure: the skin-and-hair rule decides
    result = invoke([*args, "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    parts = [entry["garment"]["part"] for entry in payload["queries"]]
    assert {"upper", "lower"} <= set(parts)
    for entry in payload["queries"]:
        x0, y0, x1, y1 = entry["garment"]["box"]
        assert 0 <= x0 < x1 <= 220 and 0 <= y0 < y1 <= 330 and 0 < entry["garment"]["share"] <= 1
        assert entry["results"] and entry["query"]["colours"]
    upper = next(e for e in payload["queries"] if e["garment"]["part"] == "upper")
    lower = next(e for e in payload["queries"] if e["garment"]["part"] == "lower")
    assert upper["query"]["colours"][0]["family"] == "red" and lower["query"]["colours"][0]["family"] == "blue"

    table = invoke([*args, "--garment", "lower", "--sheet", tmp_path / "look.png"])
    assert table.exit_code == 0, table.output
    assert "garment 1 of 1: lower body" in table.stdout and (tmp_path / "look.png").is_file()


def test_product_shot_is_one_garment_and_bad_parts_are_one_line(tiny_run, tiny_sample, garments_index, tmp_path):
    shot = tmp_path / "shirt.png"
    product_shot().save(shot)
    base = [shot, "--no-progress", "--checkpoint", tiny_run / "best.pt", "--index-dir", garments_index,
            "--set", "colour.person_test=false"]
    result = invoke([*base, "--garments", "--json"])
    assert result.exit_code == 0, result.output
    assert [e["garment"]["part"] for e in json.loads(result.stdout)["queries"]] == ["garment"]
    for extra, message in ((["--garment", "hat"], "--garment must be one of"),
                           (["--garment", "upper"], "no upper garment found"),
                           (["--garments", "--combine"], "does not go with --combine")):
        bad = invoke([*base, *extra])
        assert bad.exit_code == 1 and message in bad.output and "Traceback" not in bad.output


def test_web_api_answers_per_garment(tiny_run, tiny_sample, tmp_path):
    import io

    from fastapi.testclient import TestClient

    from fashion.config import load_config
    from fashion.recommend.engine import Engine
    from fashion.web.app import create_app

    config = load_config(overrides=[f"data.root={tiny_sample}", "colour.person_test=false"])  # a drawn figure
    engine = Engine.open(tiny_run / "best.pt", config=config, index_dir=tmp_path / "index", device="cpu",
                         progress=False, log=lambda message: None)
    buffer = io.BytesIO()
    person_figure()[0].save(buffer, format="PNG")
    with TestClient(create_app(engine, config, feedback_store=tmp_path / "feedback.sqlite")) as client:
        def post(**fields):
            return client.post("/recommend", files={"image": ("street.png", buffer.getvalue(), "image/png")},
                               data={k: str(v) for k, v in fields.items()})

        answer = post(garments="true")
        assert answer.status_code == 200, answer.text
        entries = answer.json()["queries"]
        assert {"upper", "lower"} <= {e["garment"]["part"] for e in entries}
        assert len({e["query_id"] for e in entries}) == len(entries) and all(e["results"] for e in entries)
        # A garment is re-ranked by its own id, as any described photo.
        again = client.post("/recommend", data={"query_id": entries[0]["query_id"], "top_k": "2"})
        assert again.status_code == 200 and len(again.json()["queries"][0]["results"]) == 2
        for fields, message in (({"garment": "hat"}, "garment must be one of"),
                                ({"garment": "full"}, "no full garment found"),
                                ({"garments": "true", "combine": "true"}, "does not go with combine")):
            bad = post(**fields)
            assert bad.status_code == 400 and message in bad.json()["error"], bad.text
