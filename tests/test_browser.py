"""The page in a real browser: headless Chromium (Debian's ``chromium`` + ``chromium-driver``) driven by
selenium against ``fashion.web.app.serve`` running in its own process on loopback.

Upload a sample photo, see the result cards, move the weight sliders and see the order change,
like an item; the screenshot is saved as ``test-artifacts/web.png``.
"""

from __future__ import annotations

import json
import os
import queue
import re
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

from conftest import ROOT, TINY_MODEL, TINY_SAMPLE
from test_web import split_images

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
ARTIFACTS = ROOT / "test-artifacts"
HOW_TO_ENABLE = "the browser test needs Debian's Chromium: `apt-get install chromium chromium-driver` enables it"

SERVE = r"""
import json, sys
from fashion.config import load_config
from fashion.web.app import serve
checkpoint, index, overrides = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
serve(checkpoint, None, load_config(overrides=overrides), port=0, index_dir=index, device="cpu",
      describe_workers=0, progress=False, log_level="warning")
"""


def browser_available() -> str | None:
    """Why the browser test cannot run here (None when it can)."""
    for path in (CHROMIUM, CHROMEDRIVER):
        if not (os.path.isfile(path) and os.access(path, os.X_OK)):
            return f"{path} is missing; {HOW_TO_ENABLE}"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[test]')"
    return None


pytestmark = pytest.mark.skipif(browser_available() is not None, reason=browser_available() or "")


@pytest.fixture(scope="module")
def server(tiny_run, tiny_sample, tmp_path_factory):
    """``serve()`` in a child process on a free loopback port; yields its URL and index folder."""
    index = tmp_path_factory.mktemp("browser-index") / "catalog"
    # colour.person_test off: "shop the look" is shown with a drawn figure, no photo to the person test.
    overrides = TINY_SAMPLE + TINY_MODEL + [f"data.root={tiny_sample}", "recommend.dedupe_items=false",
                                            "colour.person_test=false"]
    process = subprocess.Popen(
        [sys.executable, "-c", SERVE, str(tiny_run / "best.pt"), str(index), json.dumps(overrides)],
        cwd=ROOT, env={**os.environ, "PYTHONUNBUFFERED": "1"}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        text=True)
    lines: "queue.Queue[str]" = queue.Queue()
    log: list[str] = []

    def read() -> None:
        for line in process.stderr:  # type: ignore[union-attr]
            log.append(line)
            lines.put(line)

    threading.Thread(target=read, daemon=True).start()
    url = None
    deadline = time.monotonic() + 180
    while url is None and time.monotonic() < deadline and process.poll() is None:
        try:
            found = re.search(r"(http://127\.0\.0\.1:\d+/)", lines.get(timeout=1))
        except queue.Empty:
            continue
        url = found.group(1) if found else None
    if url is None:
        process.kill()
        pytest.fail("the server did not start:\n" + "".join(log))
    yield url, index
    process.send_signal(2)  # Ctrl+C: a clean shutdown
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    assert "Traceback" not in "".join(log), "".join(log)


@pytest.fixture(scope="module")
def driver(tmp_path_factory):
    from selenium import webdriver

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    profile = tmp_path_factory.mktemp("chromium-profile")
    for argument in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                     "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     "--disable-dev-shm-usage", "--window-size=1280,1100", f"--user-data-dir={profile}"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    browser = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=CHROMEDRIVER))
    browser.set_page_load_timeout(60)
    yield browser
    browser.quit()


def ranking(url: str, photo: Path, weights: str) -> list[str]:
    """Result keys for ``photo`` with ``weights``, straight from the API."""
    boundary = uuid.uuid4().hex
    body = (f'--{boundary}\r\nContent-Disposition: form-data; name="weights"\r\n\r\n{weights}\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="{photo.name}"\r\n'
            "Content-Type: image/jpeg\r\n\r\n").encode() + photo.read_bytes() + f"\r\n--{boundary}--\r\n".encode()
    request = urllib.request.Request(url + "recommend", data=body, method="POST",
                                     headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return [r["key"] for r in json.load(response)["queries"][0]["results"]]


def test_upload_see_cards_move_sliders_and_like(server, driver, tiny_sample):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    url, index = server
    # A photo whose ranking changes when colour alone counts (what the sliders will be set to).
    photo = default = by_colour = None
    for candidate in split_images(tiny_sample, "train")[:12]:
        default, by_colour = ranking(url, candidate, "0.6,0.25,0.15"), ranking(url, candidate, "0,0,1")
        if default != by_colour:
            photo = candidate
            break
    assert photo is not None, "no sample photo whose order depends on the weights"

    from selenium.common.exceptions import StaleElementReferenceException

    # Cards are re-rendered by every answer (sliders, a like): a poll may catch a card just replaced.
    wait = WebDriverWait(driver, 60, ignored_exceptions=[StaleElementReferenceException])
    driver.get(url)
    wait.until(lambda d: "catalog items" in d.find_element(By.ID, "catalog-info").text)
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#f-colour option")) > 1)
    driver.find_element(By.ID, "file").send_keys(str(photo))

    def card_keys(d) -> list[str]:
        # One script reads every card at once: a re-render between two lookups cannot make it stale.
        return d.execute_script("return [...document.querySelectorAll('#results li.card')].map(c => c.dataset.key)")

    wait.until(lambda d: card_keys(d) == default)

    def first_card_is_complete(d) -> bool:
        # Read inside the wait: a later answer may re-render the cards between two lookups.
        cards = d.find_elements(By.CSS_SELECTOR, "#results li.card")
        first = cards[0]
        return (len(cards) == 5 and first.find_element(By.CSS_SELECTOR, ".total").text.replace(".", "").isdigit()
                and first.find_element(By.CSS_SELECTOR, "img.thumb").get_attribute("src").endswith("/image"))

    wait.until(first_card_is_complete)
    wait.until(lambda d: d.execute_script(
        "return [...document.querySelectorAll('#results img.thumb')].every(i => i.complete && i.naturalWidth > 0)"))
    assert driver.find_element(By.ID, "q-category").text
    assert driver.find_elements(By.CSS_SELECTOR, "#q-colours span")

    # Looks and category to 0, colour to 1 (keyboard on the sliders: real input events).
    driver.find_element(By.ID, "w-visual").send_keys(Keys.HOME)
    driver.find_element(By.ID, "w-category").send_keys(Keys.HOME)
    driver.find_element(By.ID, "w-colour").send_keys(Keys.END)
    wait.until(lambda d: card_keys(d) == by_colour)
    assert driver.find_element(By.ID, "o-colour").text == "100%"
    # One script reads every total at once: cards re-rendered between two lookups cannot go stale here.
    totals = [float(text) for text in driver.execute_script(
        "return [...document.querySelectorAll('#results .total')].map(e => e.textContent)")]
    assert totals == sorted(totals, reverse=True)
    wait.until(lambda d: d.execute_script(
        "return [...document.querySelectorAll('#results img.thumb')].every(i => i.complete && i.naturalWidth > 0)"))

    # Found and clicked in one step of the wait, once the cards are still (the page refuses a vote
    # while they move): a card replaced in between is simply found again.
    wait.until(cards_still)
    wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "#results li.card .like").click() or True)
    wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "#results li.card .like").get_attribute("aria-pressed")
               == "true")
    assert driver.find_element(By.ID, "error").get_attribute("hidden") is not None

    ARTIFACTS.mkdir(exist_ok=True)
    assert driver.save_screenshot(str(ARTIFACTS / "web.png"))

    from fashion.feedback.store import FeedbackStore

    with FeedbackStore(index / "feedback.sqlite") as store:
        events = store.event_list()
    assert [(e.item, e.label) for e in events] == [(by_colour[0], 1)]
    problems = [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
    assert not problems, problems


def test_bad_file_shows_the_servers_error(server, driver, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    url, _ = server
    text = tmp_path / "notes.jpg"
    text.write_text("not a photo at all")
    driver.get(url)
    wait = WebDriverWait(driver, 60)
    wait.until(lambda d: "catalog items" in d.find_element(By.ID, "catalog-info").text)
    driver.find_element(By.ID, "file").send_keys(str(text))
    wait.until(lambda d: d.find_element(By.ID, "error").is_displayed())
    assert "notes.jpg: not an image" in driver.find_element(By.ID, "error").text


def cards_still(d) -> bool:
    """No re-ranking in flight and the last redraw has settled: the page takes votes."""
    classes = d.find_element("id", "results").get_attribute("class").split()
    return "busy" not in classes and "settling" not in classes


def test_likes_reorder_this_shoppers_cards_only_and_reset(server, driver, tiny_sample):
    """Two likes move this browser's cards; a second shopper (no cookie) sees the old order; reset restores it."""
    from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    url, _ = server
    photo = split_images(tiny_sample, "train")[1]
    original = ranking(url, photo, "0.6,0.25,0.15")
    assert len(original) == 5
    driver.get_log("browser")  # drain what earlier tests logged (the bad-file test's 415)
    driver.delete_all_cookies()  # a new shopper
    wait = WebDriverWait(driver, 60, ignored_exceptions=[StaleElementReferenceException])
    driver.get(url)
    wait.until(lambda d: "catalog items" in d.find_element(By.ID, "catalog-info").text)
    driver.find_element(By.ID, "file").send_keys(str(photo))

    def card_keys(d) -> list[str]:
        # One script reads every card at once: a re-render between two lookups cannot make it stale.
        return d.execute_script("return [...document.querySelectorAll('#results li.card')].map(c => c.dataset.key)")

    def like(d, key: str) -> bool:
        d.find_element(By.CSS_SELECTOR, f'#results li.card[data-key="{key}"] .like').click()
        return True

    def page_state(d) -> str:
        """What the page shows, for a failure message (a timeout alone says nothing)."""
        return d.execute_script(
            "return JSON.stringify({error: document.getElementById('error').textContent,"
            " status: document.getElementById('status') && document.getElementById('status').textContent,"
            " cards: [...document.querySelectorAll('#results li.card')].map(c => [c.dataset.key,"
            " c.querySelector('.like') && c.querySelector('.like').getAttribute('aria-pressed')])})")

    def settled(d, likes: int) -> bool:
        # The re-ranking a like asks for has been drawn and the page takes votes again.
        return f"your {likes} like(s)" in d.find_element(By.ID, "session-info").text and cards_still(d)

    wait.until(lambda d: card_keys(d) == original)
    for likes, key in enumerate(original[-2:], start=1):  # the two cards ranked last
        # The page refuses votes while the cards move (the next test), so each like waits for the
        # page to settle, as a shopper sees it settle.
        wait.until(cards_still)
        wait.until(lambda d: like(d, key))
        try:
            wait.until(lambda d: d.find_element(By.CSS_SELECTOR, f'#results li.card[data-key="{key}"] .like')
                       .get_attribute("aria-pressed") == "true" and settled(d, likes))
        except TimeoutException:
            raise AssertionError(f"the like of {key} never showed: {page_state(driver)}") from None
    wait.until(lambda d: card_keys(d) != original and "like" in d.find_element(By.ID, "session-info").text)
    moved = card_keys(driver)
    assert set(moved[:3]) & set(original[-2:])  # a liked card climbed
    notes = driver.execute_script("return [...document.querySelectorAll('#results .feedback-note')]"
                                  ".map(e => e.textContent)")
    assert any("up from #" in n or "liked item" in n for n in notes), notes
    assert ranking(url, photo, "0.6,0.25,0.15") == original  # another shopper: unchanged

    driver.find_element(By.ID, "reset-feedback").click()
    wait.until(lambda d: card_keys(d) == original)
    assert driver.find_element(By.ID, "error").get_attribute("hidden") is not None
    problems = [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
    assert not problems, problems


def test_a_vote_while_the_cards_move_is_refused_and_said(server, driver, tiny_sample):
    """A click that lands while a re-ranking is in flight records nothing and says so; once the
    cards are still, the same click is taken."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    url, _ = server
    photo = split_images(tiny_sample, "train")[2]
    driver.delete_all_cookies()  # a new shopper
    wait = WebDriverWait(driver, 60, ignored_exceptions=[StaleElementReferenceException])
    driver.get(url)
    wait.until(lambda d: "catalog items" in d.find_element(By.ID, "catalog-info").text)
    driver.find_element(By.ID, "file").send_keys(str(photo))
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#results li.card")) == 5 and cards_still(d))
    key = driver.find_elements(By.CSS_SELECTOR, "#results li.card")[-1].get_attribute("data-key")

    # Ask for a re-ranking, and click the like in the same script turn that sees it in flight:
    # the answer cannot arrive in between, so the click surely lands while the cards move.
    status = driver.execute_async_script("""
        const [key, done] = arguments;
        const results = document.getElementById('results');
        document.getElementById('top-k').dispatchEvent(new Event('change'));
        (function poll() {
          if (!results.classList.contains('busy')) return setTimeout(poll, 1);
          results.querySelector(`li.card[data-key="${key}"] .like`).click();
          done(document.getElementById('status').textContent);
        })();""", key)
    assert "not recorded" in status, status
    wait.until(cards_still)
    assert "like" not in driver.find_element(By.ID, "session-info").text  # the server holds no like
    assert driver.find_element(By.CSS_SELECTOR, f'#results li.card[data-key="{key}"] .like') \
        .get_attribute("aria-pressed") == "false"

    driver.find_element(By.CSS_SELECTOR, f'#results li.card[data-key="{key}"] .like').click()
    wait.until(lambda d: "your 1 like(s)" in d.find_element(By.ID, "session-info").text and cards_still(d))


def test_shop_the_look_shows_each_garment_and_its_recommendations(server, driver, tmp_path):
    """A photo of a person with "Shop the look" on: one button per garment (its crop drawn from the
    photo), and choosing another garment shows that garment's recommendations."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from test_segment import person_figure

    url, _ = server
    photo = tmp_path / "street.png"
    person_figure()[0].save(photo)
    wait = WebDriverWait(driver, 60, ignored_exceptions=[StaleElementReferenceException])
    driver.get(url)
    wait.until(lambda d: "catalog items" in d.find_element(By.ID, "catalog-info").text)
    driver.find_element(By.ID, "garments").click()
    driver.find_element(By.ID, "file").send_keys(str(photo))
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#garment-picker button.garment")) >= 2)
    labels = driver.execute_script(
        "return [...document.querySelectorAll('#garment-picker button.garment')].map(b => b.textContent)")
    assert any(label.startswith("upper") for label in labels) and any(label.startswith("lower") for label in labels)
    assert driver.find_elements(By.CSS_SELECTOR, "#garment-picker canvas")  # the garments' crops
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#results li.card"))
    first_colours = driver.find_element(By.ID, "q-colour-names").text
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#garment-picker button.garment")[1].click() or True)
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#garment-picker button.garment")[1]
               .get_attribute("aria-pressed") == "true")
    wait.until(lambda d: d.find_element(By.ID, "q-colour-names").text != first_colours)
    assert driver.find_elements(By.CSS_SELECTOR, "#results li.card")
    ARTIFACTS.mkdir(exist_ok=True)
    assert driver.save_screenshot(str(ARTIFACTS / "web-garments.png"))
    problems = [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
    assert not problems, problems


def test_words_refine_the_photo_then_let_go(server, driver, tiny_sample):
    """"Like this, but in blue": with "Refine my photo" ticked the search box re-ranks the photo
    through POST /recommend's q (cards say what the words matched); unticked, the photo's plain ranking."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    url, _ = server
    photo = split_images(tiny_sample, "train")[2]
    driver.delete_all_cookies()
    wait = WebDriverWait(driver, 60, ignored_exceptions=[StaleElementReferenceException])
    driver.get(url)
    wait.until(lambda d: "catalog items" in d.find_element(By.ID, "catalog-info").text)
    assert not driver.find_element(By.ID, "refine-label").is_displayed()  # no photo yet
    driver.find_element(By.ID, "file").send_keys(str(photo))

    def matched(d) -> list[str]:
        return d.execute_script("return [...document.querySelectorAll('#results li.card dd.matched')]"
                                ".map(e => e.textContent)")

    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#results li.card")) == 5)
    assert matched(driver) == []
    driver.find_element(By.ID, "refine-photo").click()
    driver.find_element(By.ID, "search").send_keys("blue")
    driver.find_element(By.ID, "search-button").click()
    wait.until(lambda d: len(matched(d)) >= 1 and all("blue" in line for line in matched(d)))
    assert "blue" in driver.find_element(By.ID, "search-notes").text
    assert driver.find_element(By.ID, "query").is_displayed()  # still the photo's answer, not a word search
    driver.find_element(By.ID, "refine-photo").click()  # unticked: the photo alone again
    wait.until(lambda d: matched(d) == [] and len(d.find_elements(By.CSS_SELECTOR, "#results li.card")) == 5)
    problems = [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
    assert not problems, problems
