"""A tiny headless "browser" for the OAuth tests: ``BROWSER`` points at it.

Usage: ``python headless_browser.py URL``. It opens URL, follows redirects (with cookies), and
submits each HTML form it meets the way a person would: oidc-provider's login form (any login is
accepted by its devInteractions), its consent form, and the device flow's code and confirmation
forms; until a page without a form (the CLI's "Signed in" page, or the device success page).

Environment:
    HEADLESS_MODE   ``approve`` (default); ``deny`` (cancel at the consent step);
                    ``forge-state`` / ``forge-iss`` (skip the provider and hit the client's
                    redirect_uri with a wrong state, or with the right state and a foreign issuer)
    HEADLESS_LOGIN  the account to sign in as (default ``alice``)
    HEADLESS_USER_CODE  the device flow's user code, when the URL does not carry it
    HEADLESS_LOG    append a JSON line with the outcome here (status, final URL, final text)
"""

from __future__ import annotations

import json
import os
import sys
from html.parser import HTMLParser
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import httpx


class _Forms(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict[str, object]] = []
        self.links: list[str] = []
        self._current: dict[str, object] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self._current = {"action": a.get("action", ""), "method": a.get("method", "get"), "fields": {}}
            self.forms.append(self._current)
        elif tag == "input" and self._current is not None and a.get("name"):
            fields = self._current["fields"]
            assert isinstance(fields, dict)
            fields[a["name"]] = a.get("value", "")
        elif tag == "a" and a.get("href"):
            self.links.append(a["href"])

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._current = None


def _log(entry: dict[str, object]) -> None:
    path = os.environ.get("HEADLESS_LOG")
    if path:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(entry) + "\n")


def _forge(url: str, mode: str) -> None:
    query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    redirect = query["redirect_uri"]
    params = {"code": "forged-code", "state": "not-the-state"}
    if mode == "forge-iss":
        params = {"code": "forged-code", "state": query["state"], "iss": "http://127.0.0.1:9/evil"}
    resp = httpx.get(redirect + "?" + urlencode(params), timeout=10)
    _log({"status": resp.status_code, "url": str(resp.url), "text": resp.text})


def main(url: str) -> None:
    mode = os.environ.get("HEADLESS_MODE", "approve")
    if mode.startswith("forge"):
        _forge(url, mode)
        return
    login = os.environ.get("HEADLESS_LOGIN", "alice")
    with httpx.Client(follow_redirects=True, timeout=20) as client:
        resp = client.get(url)
        for _ in range(12):
            page = _Forms()
            page.feed(resp.text)
            posts = [f for f in page.forms if str(f["method"]).lower() == "post"]
            if not posts:
                break
            form = posts[0]
            fields = dict(form["fields"])  # type: ignore[call-overload]
            if fields.get("prompt") == "consent" and mode == "deny":
                abort = next(link for link in page.links if "/abort" in link)
                resp = client.get(urljoin(str(resp.url), abort))
                continue
            if fields.get("prompt") == "login":
                fields["login"] = login
                fields["password"] = "any-password"
            if "user_code" in fields and not fields["user_code"]:
                fields["user_code"] = os.environ.get("HEADLESS_USER_CODE", "")
            if "xsrf" in fields and mode == "deny" and fields.get("confirm"):
                fields["abort"] = "yes"
            resp = client.post(urljoin(str(resp.url), str(form["action"])), data=fields)
    _log({"status": resp.status_code, "url": str(resp.url), "text": resp.text})


if __name__ == "__main__":
    main(sys.argv[1])
