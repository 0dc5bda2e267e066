"""Traditional Chinese by default, English on request, and no user-facing string left untranslated."""

import re
from pathlib import Path

from django.utils import translation

from omo.org.models import Location
from omo.org.roles import Role

ROOT = Path(__file__).resolve().parents[2]


def test_every_message_in_the_catalog_has_a_chinese_translation():
    po = (ROOT / "locale/zh_Hant/LC_MESSAGES/django.po").read_text()
    entries = re.findall(r'(?ms)^msgid ((?:"[^\n]*"\n)+)msgstr ((?:"[^\n]*"\n?)+)', po)

    untranslated = [msgid for msgid, msgstr in entries[1:] if msgstr.strip() == '""']

    assert len(entries) > 90
    assert untranslated == []
    assert (ROOT / "locale/zh_Hant/LC_MESSAGES/django.mo").stat().st_mtime >= (
        ROOT / "locale/zh_Hant/LC_MESSAGES/django.po"
    ).stat().st_mtime - 5, "run: python manage.py compilemessages"


def test_model_labels_and_roles_translate():
    with translation.override("zh-hant"):
        assert str(Location.Kind.STORE.label) == "門市"
        assert str(Location._meta.verbose_name) == "據點"
        assert str(Role.CLERK.label) == "店員"
    with translation.override("en"):
        assert str(Location.Kind.STORE.label) == "Store"


def test_home_page_follows_the_browser_language(client):
    chinese = client.get("/", HTTP_ACCEPT_LANGUAGE="zh-TW,zh;q=0.9").content.decode()
    english = client.get("/", HTTP_ACCEPT_LANGUAGE="en-US").content.decode()

    assert '<html lang="zh-hant">' in chinese
    assert "總部管理後台" in chinese
    assert '<html lang="en">' in english
    assert "HQ dashboard (admin)" in english


def test_api_errors_speak_the_callers_language(client):
    response = client.get("/api/v1/locations/", HTTP_ACCEPT_LANGUAGE="zh-hant", HTTP_X_API_KEY="omo_bad_key")

    assert response.status_code == 401
    assert response.json()["message"] == "通路 API 金鑰無效、已過期或已撤銷。"
