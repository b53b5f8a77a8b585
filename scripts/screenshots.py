"""Save the main pages of remit as PNG under docs/screenshots/ (``make screenshots``).

Seeds the small demo into a throwaway SQLite book, serves it on a free loopback port, and
drives Debian's chromium with Playwright: staff pages as the demo clerk, approver and admin,
the provider portal as the demo provider.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from cryptography.fernet import Fernet
from playwright.sync_api import Page, sync_playwright

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
PASSWORD = "remit-demo-only"  # noqa: S105 - the demo's published password
PAGES = (
    ("demo-clerk@riverside", (("queue", "/b/riverside/queue"),
                              ("cases", "/b/riverside/cases?overdue=1"),
                              ("case", "/b/riverside/cases/3"),
                              ("providers", "/b/riverside/parties?role=provider"),
                              ("party", "/b/riverside/parties/1"),
                              ("reports", "/b/riverside/reports"),
                              ("trial-balance", "/b/riverside/ledger"))),
    ("demo-approver@riverside", (("bank-changes", "/b/riverside/bank-changes"),)),
    ("demo-admin@riverside", (("jobs", "/b/riverside/jobs"),
                              ("webhooks", "/b/riverside/admin/webhooks"))),
    ("demo-provider@riverside", (("portal-statement", "/portal/riverside"),
                                 ("portal-queries", "/portal/riverside/queries"))),
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def sign_in(page: Page, base: str, username: str) -> None:
    page.goto(f"{base}/login")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state("networkidle")


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="remit-shots-"))
    env = {**os.environ, "REMIT_DATABASE_URL": f"sqlite:///{work / 'remit.db'}",
           "REMIT_SECRET_KEY": Fernet.generate_key().decode()}
    remit = str(Path(sys.executable).parent / "remit")
    subprocess.run([remit, "init"], env=env, check=True, capture_output=True)
    subprocess.run([remit, "demo", "seed", "--scale", "small"], env=env, check=True,
                   capture_output=True)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([remit, "serve", "--port", str(port), "--no-worker"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"{base}/health", timeout=1)  # noqa: S310 - loopback
                break
            except OSError:
                time.sleep(0.1)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True)
            for username, pages in PAGES:
                context = browser.new_context(viewport={"width": 1280, "height": 900})
                page = context.new_page()
                sign_in(page, base, username)
                for name, path in pages:
                    page.goto(base + path)
                    page.wait_for_load_state("networkidle")
                    target = OUT / f"{name}.png"
                    page.screenshot(path=str(target), full_page=True)
                    print(f"{target.relative_to(ROOT)}  ({re.sub(r'@.*', '', username)})")
                context.close()
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
