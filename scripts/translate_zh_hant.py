"""Fills locale/zh_Hant/LC_MESSAGES/django.po from the table below (run after makemessages).

Keeps translators' work in one reviewable place; strings missing here stay untranslated and are
listed, so a new string cannot silently ship without its Chinese.
Usage: python scripts/translate_zh_hant.py && python manage.py compilemessages -l zh_Hant
"""

import re
import sys
from pathlib import Path

ZH_HANT = {
    "Clerk attribution": "店員業績歸屬",
    "Catalog": "商品",
    "Inventory": "庫存",
    "Members": "會員",
    "Orders": "訂單",
    "Point of sale": "門市 POS",
    "The input is not valid.": "輸入資料有誤。",
    "Core": "核心",
    "Demo data": "示範資料",
    "%(model)s not found.": "找不到%(model)s。",
    "You can only work on records of your own store.": "您只能處理自己門市的資料。",
    "Your role does not allow this action.": "您的角色無權執行此操作。",
    "home store": "所屬門市",
    "roles": "角色",
    "live API keys": "有效 API 金鑰",
    "Issue a new API key (shown once)": "核發新的 API 金鑰（只顯示一次）",
    "New key for %(channel)s (copy it now, it is not shown again): %(key)s": "%(channel)s 的新金鑰（請立即複製，之後不再顯示）：%(key)s",
    "Revoke the selected keys": "撤銷所選金鑰",
    "Revoked %(n)d keys.": "已撤銷 %(n)d 把金鑰。",
    "OMO back office": "OMO 後台",
    "Headquarters": "總部",
    "%(brand)s · OMO back office": "%(brand)s · OMO 後台",
    "Invalid, expired or revoked channel API key.": "通路 API 金鑰無效、已過期或已撤銷。",
    "Organisation": "組織",
    "Use 2-20 capital letters, digits and dashes, e.g. S-TPE01.": "請使用 2-20 個大寫英文字母、數字與連字號，例如 S-TPE01。",
    "Use 6-12 letters and digits (no 0, O, 1 or I).": "請使用 6-12 個英文字母與數字（不含 0、O、1、I）。",
    "user": "使用者",
    "users": "使用者",
    "Store": "門市",
    "Warehouse": "倉庫",
    "code": "代碼",
    "name": "名稱",
    "kind": "類型",
    "city": "縣市",
    "address": "地址",
    "phone": "電話",
    "active": "啟用",
    "supplying warehouse": "補貨倉",
    "The warehouse that replenishes this store.": "負責補貨給此門市的倉庫。",
    "created at": "建立時間",
    "updated at": "更新時間",
    "location": "據點",
    "locations": "據點",
    "Only a store is supplied by a warehouse.": "只有門市才會由倉庫補貨。",
    "The supplier must be a warehouse.": "補貨來源必須是倉庫。",
    "Store POS": "門市 POS",
    "Web shop": "官網",
    "App": "App",
    "Marketplace": "電商平台",
    "sales channel": "銷售通路",
    "sales channels": "銷售通路",
    "channel": "通路",
    "Who uses this key, e.g. 'web shop production'.": "誰使用這把金鑰，例如「官網正式環境」。",
    "key prefix": "金鑰前綴",
    "secret hash": "密鑰雜湊",
    "created by": "建立者",
    "last used at": "最後使用時間",
    "expires at": "到期時間",
    "revoked at": "撤銷時間",
    "revoked by": "撤銷者",
    "channel API key": "通路 API 金鑰",
    "channel API keys": "通路 API 金鑰",
    "employee code": "員工編號",
    "display name": "顯示名稱",
    "Required for store managers and clerks; empty for HQ staff.": "店長與店員必填；總部人員留空。",
    "referral code": "推薦碼",
    "staff profile": "員工資料",
    "staff profiles": "員工資料",
    "A home store must be a store, not a warehouse.": "所屬門市必須是門市，不能是倉庫。",
    "HQ admin": "總部管理員",
    "HQ merchandiser": "總部商品企劃",
    "HQ CRM": "總部會員行銷",
    "HQ finance": "總部財務",
    "Store manager": "店長",
    "Clerk": "店員",
    "Cannot issue a key for an inactive channel.": "無法為停用的通路核發金鑰。",
    "Malformed channel key.": "通路金鑰格式錯誤。",
    "The username %(username)s is taken.": "帳號 %(username)s 已被使用。",
    "Only an HQ admin can be a superuser.": "只有總部管理員可以成為超級使用者。",
    "The employee code %(code)s is taken.": "員工編號 %(code)s 已被使用。",
    "The referral code %(code)s is taken.": "推薦碼 %(code)s 已被使用。",
    "A store manager or clerk needs a home store.": "店長或店員必須指定所屬門市。",
    "HQ staff have no home store.": "總部人員沒有所屬門市。",
    "Traditional Chinese": "繁體中文",
    "English": "English",
    "Language": "語言",
    "One back office for every channel: products, stock in every store and warehouse, members, orders "
    "and fair rewards for store clerks.": "所有通路共用一個後台：商品、每間門市與倉庫的庫存、會員、訂單，以及公平的店員業績獎勵。",
    "HQ dashboard (admin)": "總部管理後台",
    "REST API documentation": "REST API 文件",
    "System health": "系統狀態",
    "store": "門市",
    "Use capital letters, digits and dashes.": "請使用大寫英文字母、數字與連字號。",
    "updated by": "更新者",
    "register": "收銀機",
    "registers": "收銀機",
    "Registers belong to stores, not warehouses.": "收銀機只屬於門市，不屬於倉庫。",
    "Register %(code)s already exists in this store.": "此門市已有收銀機 %(code)s。",
    "Personal info": "個人資料",
    "Access": "權限",
    "Important dates": "重要日期",
    "role": "角色",
    "username": "帳號",
    "email": "電子郵件",
    "password": "密碼",
    "At least 10 characters; the staff member can change it later.": "至少 10 個字元；員工之後可以自行修改。",
    "Choose a role for this staff member.": "請為這位員工選擇角色。",
    "New API keys": "新的 API 金鑰",
    "This warehouse supplies stores: assign them another warehouse first.": "此倉庫負責門市補貨：請先為那些門市指定其他倉庫。",
    "Staff work in this store: move them to another store first.": "此門市仍有員工：請先將他們調到其他門市。",
    "%(things)s belong to this location as a %(kind)s.": "此據點以%(kind)s身分擁有%(things)s。",
    "These fields cannot be changed here.": "這些欄位不能在此修改。",
    "Employee or referral code already in use.": "員工編號或推薦碼已被使用。",
    "Home": "首頁",
    "Copy each key now: only its hash is stored, it cannot be shown again.": "請立即複製每把金鑰：系統只保存雜湊值，之後無法再顯示。",
    "API key": "API 金鑰",
    "Back to the channels": "回到銷售通路",
    "Logged in as %(name)s.": "目前登入：%(name)s。",
    "Log out": "登出",
    "Staff login": "員工登入",
    "Wrong username or password.": "帳號或密碼錯誤。",
    "Log in": "登入",
}

PO = Path(__file__).resolve().parent.parent / "locale" / "zh_Hant" / "LC_MESSAGES" / "django.po"
ENTRY = re.compile(r'(?ms)^(msgid (?:"(?:[^"\\]|\\.)*"\n)+)(msgstr (?:"(?:[^"\\]|\\.)*"\n?)+)')


def unquote(block: str) -> str:
    return "".join(re.findall(r'"((?:[^"\\]|\\.)*)"', block)).replace('\\"', '"').replace("\\n", "\n")


def quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def main() -> int:
    text = PO.read_text()
    missing = []

    def fill(match):
        msgid = unquote(match.group(1)[len("msgid ") :])
        if not msgid:
            return match.group(0)
        if msgid not in ZH_HANT:
            missing.append(msgid)
            return match.group(0)
        return f"{match.group(1)}msgstr {quote(ZH_HANT[msgid])}\n"

    text = ENTRY.sub(fill, text).replace("#, fuzzy\n", "")
    text = text.replace(
        '"Plural-Forms: nplurals=INTEGER; plural=EXPRESSION;\\n"', '"Plural-Forms: nplurals=1; plural=0;\\n"'
    )
    text = re.sub(r'"\n(?=#)', '"\n\n', text)  # one blank line between entries
    PO.write_text(text)
    for msgid in missing:
        print(f"untranslated: {msgid!r}", file=sys.stderr)
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
