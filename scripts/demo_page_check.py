"""Check the service's demo page in a real headless browser: upload a photo, wait for the answer drawn on it,
save a screenshot. Needs Debian's chromium and chromium-driver (apt-get install chromium chromium-driver).

    python scripts/demo_page_check.py --url http://127.0.0.1:8000 --photo tests/assets/astronaut.jpg --out demo.png \
        [--key <a till key>]

The service must run with demo=true.
"""

import argparse
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait


def check_demo_page(url: str, photo: Path, screenshot: Path, key: str = "", timeout: float = 60) -> str:
    """Enter `key`, upload `photo` on the page at `url`; return the result's text once shown (raises if it is not)."""
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1000,1100"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service("/usr/bin/chromedriver"))
    try:
        driver.get(url)
        driver.find_element(By.ID, "key").send_keys(key)
        driver.find_element(By.ID, "photo").send_keys(str(Path(photo).resolve()))
        result = driver.find_element(By.ID, "result")
        WebDriverWait(driver, timeout).until(lambda _: result.get_attribute("data-state") in ("done", "error"))
        error = driver.find_element(By.ID, "error").text
        if result.get_attribute("data-state") != "done":
            raise RuntimeError(f"the page showed an error: {error}")
        drawn = driver.execute_script("const c = document.getElementById('view'); return [c.width, c.height];")
        if min(drawn) == 0:
            raise RuntimeError("the photo was not drawn")
        driver.save_screenshot(str(screenshot))
        return result.text
    finally:
        driver.quit()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--photo", type=Path, required=True)
    parser.add_argument("--out", type=Path, default=Path("demo_page.png"))
    parser.add_argument("--key", default="", help="a till's API key, when the service has api_keys")
    args = parser.parse_args()
    print(check_demo_page(args.url, args.photo, args.out, args.key))
    print(f"screenshot: {args.out}")


if __name__ == "__main__":
    main()
