"""Take a screenshot of the dashboard as a person sees it (how docs/dashboard.png is made).

    python scripts/screenshot_dashboard.py --model DIR [--data-tag TAG] [--data-dir DIR] \
        [--search wireless --rate 3] [--out docs/dashboard.png]

A plain headless screenshot of http://127.0.0.1:5006/ shows an empty page: the dashboard is built
in the browser over a websocket after the HTML arrives. This script starts ``deepcart serve`` on a
free port, drives Debian's Chromium through Playwright (``apt-get install chromium``; never
``playwright install``), waits until the picks are on the page, optionally searches and gives
1-star ratings to the first results (as a person would: click a product, click a star), waits for
the picks to move, and saves the screenshot.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from deepcart.toolkit.testing import CHROMIUM, CHROMIUM_ARGS, running_server


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", required=True, help="model folder (repeatable)")
    parser.add_argument("--data-tag")
    parser.add_argument("--data-dir")
    parser.add_argument("--search", help="a search to run before the screenshot")
    parser.add_argument("--rate", type=int, default=0, help="rate this many search results 1 star")
    parser.add_argument("--out", type=Path, default=Path("docs/dashboard.png"))
    parser.add_argument("--width", type=int, default=1440)
    parser.add_argument("--height", type=int, default=1100)
    args = parser.parse_args()

    command = ["--no-show"]
    for model in args.model:
        command += ["--model", model]
    command += ["--data-tag", args.data_tag] if args.data_tag else []
    command += ["--data-dir", args.data_dir] if args.data_dir else []
    log = args.out.with_suffix(".serve.log")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    try:
        with running_server(command, log=log, env=dict(os.environ)) as (port, _):
            shoot(port, args)
    except RuntimeError as exc:  # the server did not start: its log says why
        print(exc, file=sys.stderr)
        return 1
    finally:
        log.unlink(missing_ok=True)
    print(f"Saved {args.out}")
    return 0


def shoot(port: int, args: argparse.Namespace) -> None:
    """Open the page, wait for the picks, optionally search and rate, save the screenshot."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": args.width, "height": args.height})
        page.goto(f"http://127.0.0.1:{port}/")
        page.locator('.dc-picks[data-version="1"]').wait_for(timeout=120_000)  # built over the websocket
        version = 1
        if args.search:
            box = page.locator("input[placeholder^='e.g. wireless']")
            box.fill(args.search)
            box.press("Enter")
            page.locator(".dc-results .tabulator-row").first.wait_for()
            for index in range(args.rate):
                page.locator(".dc-results .tabulator-row").nth(index).click()
                page.locator(".dc-detail").wait_for()
                page.get_by_role("button", name="1 ★", exact=True).click()
                version += 1
                page.locator(f'.dc-picks[data-version="{version}"]').wait_for(timeout=30_000)
        page.wait_for_timeout(1000)  # the chart and the busy indicator settle
        page.screenshot(path=str(args.out))
        browser.close()


if __name__ == "__main__":
    sys.exit(main())
