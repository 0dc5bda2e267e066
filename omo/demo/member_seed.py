"""The demo loyalty program and its members: three tiers and the earn rule, then 3,000 members of 青禾服飾
with their identities, consents, purchases in stores and online over the last 14 months, points (lots
and ledger), tiers, coupons and a few member-get-member referrals.

Deterministic: every value comes from generators seeded by name, relative to today. Runs once: a
second run finds the demo members and adds nothing. Fast: everything is computed in Python first and
written with one ``bulk_create`` per table; no service is called per member.

The ledgers hold together the way the services keep them: for every member the balance equals the sum
of the points entries and the sum of the lots' remaining points, ``balance_after`` runs in id order,
redemptions take the earliest-expiring lots first, and a lot past its date has been expired (remaining 0
and an ``expire`` entry, as the nightly job leaves it). The tier is the one the rolling 12-month net
spend reaches today (``members.loyalty.tier_evaluate``).
"""

from __future__ import annotations

import random
import uuid
from collections import defaultdict
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import ROUND_FLOOR, Decimal
from functools import cache
from math import log

from dateutil.relativedelta import relativedelta
from django.conf import settings
from django.utils import timezone

from members.coupons import CODE_ALPHABET, campaign_create
from members.models import (
    Consent,
    Coupon,
    CouponCampaign,
    CouponRedemption,
    EarnRule,
    Identity,
    Member,
    MemberTier,
    PointsEntry,
    PointsLot,
    Purchase,
    ReferralReward,
    Tier,
    TierChange,
    WalletCoupon,
)
from members.services import default_points_expiry
from omo.org.models import REFERRAL_CODE_ALPHABET, Location, SalesChannel, StaffProfile

TIERS = [
    # code, name, rank, 12-month spend, points multiplier
    ("MEMBER", "一般會員", 0, Decimal(0), Decimal("1.00")),
    ("SILVER", "銀卡會員", 1, Decimal(10000), Decimal("1.20")),
    ("GOLD", "金卡會員", 2, Decimal(30000), Decimal("1.50")),
]

DEMO_MEMBERS = 3000
DEMO_REFERENCE = "DEMO-"  # purchase references: DEMO-000001, ...
BATCH = 1000
HISTORY_DAYS = 425  # purchases over the last 14 months
OLDEST_MEMBER_DAYS = 1100  # members joined over the last three years
WELCOME_CODE = "WELCOME100"

# Surname, romanisation (as on a Taiwanese passport), weight (per mille, roughly the island's shares).
SURNAMES = [
    ("陳", "chen", 112),
    ("林", "lin", 83),
    ("黃", "huang", 60),
    ("張", "chang", 53),
    ("李", "lee", 51),
    ("王", "wang", 41),
    ("吳", "wu", 40),
    ("劉", "liu", 32),
    ("蔡", "tsai", 29),
    ("楊", "yang", 26),
    ("許", "hsu", 23),
    ("鄭", "cheng", 19),
    ("謝", "hsieh", 18),
    ("洪", "hung", 15),
    ("郭", "kuo", 15),
    ("邱", "chiu", 15),
    ("曾", "tseng", 14),
    ("廖", "liao", 13),
    ("賴", "lai", 13),
    ("徐", "hsu", 12),
    ("周", "chou", 12),
    ("葉", "yeh", 12),
    ("蘇", "su", 12),
    ("莊", "chuang", 9),
    ("呂", "lu", 9),
    ("江", "chiang", 8),
    ("何", "ho", 8),
    ("蕭", "hsiao", 7),
    ("羅", "lo", 7),
    ("高", "kao", 7),
    ("潘", "pan", 6),
    ("簡", "chien", 6),
    ("朱", "chu", 6),
    ("鍾", "chung", 6),
    ("游", "yu", 5),
    ("彭", "peng", 5),
    ("詹", "chan", 5),
    ("胡", "hu", 5),
    ("施", "shih", 5),
    ("沈", "shen", 5),
]
FEMALE_NAMES = [
    ("雅婷", "yating"),
    ("怡君", "yichun"),
    ("詩涵", "shihhan"),
    ("欣怡", "hsinyi"),
    ("佩君", "peichun"),
    ("宜蓁", "yichen"),
    ("郁雯", "yuwen"),
    ("婉婷", "wanting"),
    ("淑芬", "shufen"),
    ("美玲", "meiling"),
    ("雅雯", "yawen"),
    ("家瑜", "chiayu"),
    ("思妤", "ssuyu"),
    ("品妍", "pinyen"),
    ("子涵", "tzuhan"),
    ("佳穎", "chiaying"),
    ("心怡", "hsinyi"),
    ("靜宜", "chingyi"),
    ("惠雯", "huiwen"),
    ("筱涵", "hsiaohan"),
    ("宛蓉", "wanjung"),
    ("芷晴", "chihching"),
    ("玉婷", "yuting"),
    ("秀英", "hsiuying"),
    ("佩珊", "peishan"),
    ("詠晴", "yungching"),
    ("語彤", "yutung"),
    ("舒婷", "shuting"),
]
MALE_NAMES = [
    ("冠宇", "kuanyu"),
    ("家豪", "chiahao"),
    ("彥廷", "yenting"),
    ("承翰", "chenghan"),
    ("宇翔", "yuhsiang"),
    ("志明", "chihming"),
    ("柏翰", "pohan"),
    ("俊傑", "chunchieh"),
    ("信宏", "hsinhung"),
    ("建志", "chienchih"),
    ("宗翰", "tsunghan"),
    ("冠廷", "kuanting"),
    ("哲瑋", "chewei"),
    ("俊宏", "chunhung"),
    ("家銘", "chiaming"),
    ("承恩", "chengen"),
    ("宥辰", "yuchen"),
    ("品睿", "pinjui"),
    ("偉倫", "weilun"),
    ("志豪", "chihhao"),
    ("建宏", "chienhung"),
    ("文彬", "wenpin"),
    ("明哲", "mingche"),
    ("子軒", "tzuhsuan"),
    ("育誠", "yucheng"),
]
# Reserved example domains: demo mail never reaches a real mailbox.
EMAIL_DOMAINS = [("example.com", 50), ("example.net", 30), ("example.org", 20)]
BUYER_SEGMENTS = [("none", 15), ("store_only", 38), ("online_only", 21), ("both", 26)]  # 45/25/30 % of buyers
# How often and how much: class, weight, (fewest, most purchases), amount factor.
SHOPPERS = [
    ("casual", 60, (1, 2), 1.0),
    ("regular", 29, (3, 5), 1.0),
    ("loyal", 8, (6, 12), 1.1),
    ("vip", 3, (14, 26), 1.6),
]
ONLINE_CHANNELS = [("WEB", 45), ("APP", 40), ("SHOPEE", 15)]
REGISTRATION = [("POS", 55), ("WEB", 25), ("APP", 20)]
REDEEM_STEPS = [50, 100, 150, 200, 300, 500]


def seed_loyalty(result) -> None:
    for code, name, rank, spend, multiplier in TIERS:
        _tier, created = Tier.objects.get_or_create(
            code=code, defaults={"name": name, "rank": rank, "min_spend_12m": spend, "points_multiplier": multiplier}
        )
        if created:
            result.count("tiers")
    if not EarnRule.objects.exists():
        EarnRule.objects.create(name="消費 NT$100 累積 1 點", spend_per_point=Decimal(100))
        result.count("earn rules")


def _rng(*keys) -> random.Random:
    return random.Random("|".join(map(str, ("members", *keys))))  # noqa: S311 - demo data, not security


def _pick(rng: random.Random, weighted):
    """One row of ``[(value, weight, ...), ...]``."""
    return rng.choices(weighted, weights=[row[1] for row in weighted])[0]


def _local(day: date, hour: int, minute: int) -> datetime:
    return timezone.make_aware(datetime.combine(day, time(hour, minute)))


def _start_of(day: date) -> datetime:
    return timezone.make_aware(datetime(day.year, day.month, day.day))  # as members.loyalty.rolling_spend


def _reached(tiers: list[Tier], spend: Decimal) -> Tier:
    """The tier a 12-month spend reaches (``members.loyalty.tier_evaluate``)."""
    return [t for t in tiers if t.min_spend_12m <= spend][-1] if spend >= tiers[0].min_spend_12m else tiers[0]


@contextmanager
def _historical_timestamps(*models):
    """Lets ``bulk_create`` write the dates the demo history computes (joined two years ago, points
    earned on the day of the purchase) instead of now: ``auto_now_add`` is off for these models' fields
    while the block runs. The seed is a management command, one thread."""
    fields = [f for model in models for f in model._meta.concrete_fields if getattr(f, "auto_now_add", False)]
    for f in fields:
        f.auto_now_add = False
    try:
        yield
    finally:
        for f in fields:
            f.auto_now_add = True


@dataclass
class _Context:
    today: date
    now: datetime
    channels: dict[str, SalesChannel]
    stores: list[Location]
    clerks: dict[int, list[int]]  # store id: user ids of its staff
    tiers: list[Tier]
    spend_per_point: Decimal


@dataclass
class _Buy:
    person: int
    day: date  # local date of paid_at
    paid_at: datetime
    channel: str
    store_id: int | None
    amount: Decimal
    reference: str = ""
    row: Purchase | None = None


@dataclass
class _Person:
    """A demo member being planned: the member row, what links to them, and their points ledger as the
    services would have left it."""

    member: Member
    joined_days: int
    identities: list[tuple[str, str, datetime]] = field(default_factory=list)
    consents: list[tuple[str, bool, str, datetime]] = field(default_factory=list)
    referred_by: int | None = None
    buys: list[_Buy] = field(default_factory=list)
    balance: int = 0
    lots: list[list] = field(default_factory=list)  # [expires_on, earned, remaining, at, reference]
    entries: list[tuple] = field(default_factory=list)  # (kind, points, balance after, at, reference, reason)
    spend_12m: Decimal = Decimal(0)
    tier: Tier | None = None


@dataclass
class _Coupons:
    welcome_starts: datetime
    welcome_wallet: list[int]  # person indexes, collected when they joined
    welcome_uses: list[_Buy]
    birthday_starts: datetime
    birthday: list[tuple[int, str]]  # (person index, unique code)
    birthday_uses: dict[int, _Buy]


def seed_members(result) -> None:
    rng = _rng("people")
    member_nos = [f"M{n:09d}" for n in rng.sample(range(10**9), DEMO_MEMBERS)]
    if (
        Member.objects.filter(member_no__in=member_nos).exists()
        or Purchase.objects.filter(reference__startswith=DEMO_REFERENCE).exists()
    ):
        return
    ctx = _context()
    people = _people(ctx, rng, member_nos)
    _referrals(people)
    buys = _purchases(ctx, people)
    coupons = _coupon_plan(ctx, people)
    rewards = _points(ctx, people)
    _tiers(ctx, people)
    _write(ctx, people, buys, rewards, coupons)
    result.count("members", len(people))
    result.count("purchases", len(buys))
    result.count("coupon campaigns", 2)


def _context() -> _Context:
    stores = list(Location.objects.filter(kind=Location.Kind.STORE).order_by("code"))
    clerks = defaultdict(list)
    staff = StaffProfile.objects.filter(home_store__in=stores).order_by("employee_code")
    for store_id, user_id in staff.values_list("home_store_id", "user_id"):
        clerks[store_id].append(user_id)
    base_rule = EarnRule.objects.filter(is_active=True, spend_per_point__isnull=False).first()
    return _Context(
        today=timezone.localdate(),
        now=timezone.now(),
        channels={c.code: c for c in SalesChannel.objects.filter(code__in=["POS", "WEB", "APP", "SHOPEE"])},
        stores=stores,
        clerks=clerks,
        tiers=list(Tier.objects.order_by("rank")),
        spend_per_point=base_rule.spend_per_point if base_rule else Decimal(100),
    )


def _people(ctx: _Context, rng: random.Random, member_nos: list[str]) -> list[_Person]:
    """Names, contact points, where and when they joined, identities and consents."""
    taken_phones = set(Member.objects.exclude(phone=None).values_list("phone", flat=True))
    taken_emails = set(Member.objects.exclude(email=None).values_list("email", flat=True))
    taken_codes = set(Member.objects.values_list("referral_code", flat=True))
    taken_codes |= set(StaffProfile.objects.values_list("referral_code", flat=True))
    surnames = [(s, r) for s, r, _w in SURNAMES]
    surname_weights = [w for _s, _r, w in SURNAMES]
    people = []
    for member_no in member_nos:
        surname, surname_rom = rng.choices(surnames, weights=surname_weights)[0]
        given, given_rom = rng.choice(FEMALE_NAMES if rng.random() < 0.62 else MALE_NAMES)
        phone = None
        while phone is None or phone in taken_phones:
            phone = f"+8869{rng.randrange(10**8):08d}"
        taken_phones.add(phone)
        email = None
        if rng.random() < 0.6:
            domain = _pick(rng, EMAIL_DOMAINS)[0]
            local = rng.choice(
                [f"{given_rom}.{surname_rom}", f"{surname_rom}{given_rom}", f"{given_rom}{rng.randint(70, 99)}"]
            )
            email = f"{local}@{domain}"
            while email in taken_emails:
                email = f"{local}{rng.randint(1, 999)}@{domain}"
            taken_emails.add(email)
        birthday = None
        if rng.random() < 0.85:
            age = int(rng.triangular(18, 70, 33))
            birthday = date(ctx.today.year - age, 1, 1) + timedelta(days=rng.randrange(365))
        code = None
        while code is None or code in taken_codes:
            code = "".join(rng.choice(REFERRAL_CODE_ALPHABET) for _ in range(8))
        taken_codes.add(code)
        channel_code = _pick(rng, REGISTRATION)[0]
        store = rng.choice(ctx.stores) if channel_code == "POS" and ctx.stores else None
        staff = ctx.clerks[store.pk] if store is not None else []
        days = 2 + int((OLDEST_MEMBER_DAYS - 2) * rng.random() ** 1.4)  # more members joined lately
        joined_at = _local(ctx.today - timedelta(days=days), rng.randint(10, 21), rng.randrange(60))
        channel = ctx.channels.get(channel_code)
        member = Member(
            member_no=member_no,
            name=surname + given,
            phone=phone,
            email=email,
            birthday=birthday,
            registered_channel_id=channel.pk if channel else None,
            registered_store_id=store.pk if store else None,
            registered_by_id=rng.choice(staff) if staff else None,
            referral_code=code,
            created_at=joined_at,
        )
        person = _Person(member=member, joined_days=days)
        has_line = rng.random() < 0.5
        if has_line:
            linked_at = min(joined_at + timedelta(days=rng.randrange(30)), ctx.now)
            person.identities.append((Identity.Provider.LINE, f"U{rng.getrandbits(128):032x}", linked_at))
        if channel_code == "APP" or rng.random() < 0.15:
            install = str(uuid.UUID(int=rng.getrandbits(128), version=4))
            person.identities.append((Identity.Provider.APP_INSTALL, install, joined_at))
        if rng.random() < 0.05:
            person.identities.append((Identity.Provider.FACEBOOK, str(rng.randrange(10**15, 10**17)), joined_at))
        if rng.random() < 0.88:
            source = store.code if store else channel_code
            asked = [Consent.Purpose.SMS] + [Consent.Purpose.EMAIL] * bool(email) + [Consent.Purpose.LINE] * has_line
            for purpose in asked:
                granted = rng.random() < 0.8
                person.consents.append((purpose, granted, source, joined_at))
                if granted and rng.random() < 0.05:  # changed their mind later: the latest row is in force
                    later = joined_at + timedelta(days=rng.randint(1, days - 1))
                    person.consents.append((purpose, False, "WEB", later))
        people.append(person)
    return people


def _referrals(people: list[_Person]) -> None:
    """About a hundred members joined with the code of a member who joined before them."""
    rng = _rng("referrals")
    for index in sorted(rng.sample(range(len(people)), 120)):
        for _try in range(20):
            referrer = rng.randrange(len(people))
            if people[referrer].joined_days > people[index].joined_days:
                people[index].referred_by = referrer
                break
    referrers = {p.referred_by for p in people if p.referred_by is not None}
    for index in referrers:
        people[index].referred_by = None  # one level: every referrer is written before the members they brought


def _purchases(ctx: _Context, people: list[_Person]) -> list[_Buy]:
    """Store-only, online-only and both (about 45/25/30 % of buyers), some members buying nothing;
    many small shoppers and a few big ones, so every tier has members."""
    rng = _rng("purchases")
    stores = ctx.stores
    buys = []
    for index, person in enumerate(people):
        segment = _pick(rng, BUYER_SEGMENTS)[0]
        _kind, _weight, (fewest, most), factor = _pick(rng, SHOPPERS)
        count = rng.randint(fewest, most)
        if segment == "none":
            continue
        if segment == "both":
            count = max(count, 2)
        window = min(HISTORY_DAYS, person.joined_days - 1)
        home = person.member.registered_store_id or stores[index % len(stores)].pk
        kinds = ["pos", "online"] if segment == "both" else []
        kinds += [
            "pos" if segment == "store_only" or (segment == "both" and rng.random() < 0.6) else "online"
            for _ in range(count - len(kinds))
        ]
        rng.shuffle(kinds)
        app_member = person.member.registered_channel_id == ctx.channels["APP"].pk
        for kind in kinds:
            day = ctx.today - timedelta(days=rng.randint(1, window))
            amount = Decimal(min(max(int(round(rng.lognormvariate(log(1200), 0.55) * factor, -1)), 290), 15000))
            if kind == "pos":
                store_id = home if rng.random() < 0.8 else rng.choice(stores).pk
                paid_at = _local(day, rng.randint(11, 21), rng.randrange(60))
                buys.append(_Buy(index, day, paid_at, "POS", store_id, amount))
            else:
                channel = "APP" if app_member and rng.random() < 0.6 else _pick(rng, ONLINE_CHANNELS)[0]
                paid_at = _local(day, rng.randint(7, 23), rng.randrange(60))
                buys.append(_Buy(index, day, paid_at, channel, None, amount))
    buys.sort(key=lambda b: (b.paid_at, b.person))
    for number, buy in enumerate(buys, start=1):
        buy.reference = f"{DEMO_REFERENCE}{number:06d}"
        people[buy.person].buys.append(buy)
    return buys


def _coupon_plan(ctx: _Context, people: list[_Person]) -> _Coupons:
    """WELCOME100 (NT$100 off NT$1,000) collected by new members of the last 14 months, some used on
    their first big enough order; a unique birthday code for members born this month, some used."""
    rng = _rng("coupons")
    plan = _Coupons(
        welcome_starts=_start_of(ctx.today - relativedelta(months=14)),
        welcome_wallet=[],
        welcome_uses=[],
        birthday_starts=_start_of(ctx.today.replace(day=1)),
        birthday=[],
        birthday_uses={},
    )
    for index, person in enumerate(people):
        if person.member.created_at >= plan.welcome_starts and rng.random() < 0.4:
            plan.welcome_wallet.append(index)
            first = next((b for b in person.buys if b.amount + 100 >= 1000), None)
            if first is not None and rng.random() < 0.5:
                plan.welcome_uses.append(first)
    used = {buy.reference for buy in plan.welcome_uses}
    codes = set(Coupon.objects.values_list("code", flat=True)) | {WELCOME_CODE}
    for index, person in enumerate(people):
        if not (person.member.birthday and person.member.birthday.month == ctx.today.month):
            continue
        code = None
        while code is None or code in codes:
            code = "".join(rng.choice(CODE_ALPHABET) for _ in range(12))
        codes.add(code)
        plan.birthday.append((index, code))
        buy = next((b for b in person.buys if b.paid_at >= plan.birthday_starts and b.reference not in used), None)
        if buy is not None and rng.random() < 0.6:
            plan.birthday_uses[index] = buy
    return plan


def _points(ctx: _Context, people: list[_Person]) -> list[tuple[int, int, _Buy]]:
    """Each member's points in time order: earned on every purchase (at the multiplier of the tier the
    spend before it reached), some redeemed on a later order, referral rewards on the referred member's
    first order, and what expired. Returns the referral rewards (referrer, referred, first order)."""
    rng = _rng("points")
    window_start, expiry = cache(_window_start), cache(default_points_expiry)  # a few hundred days, many events
    rewards = []
    extra = defaultdict(list)  # person index: [(at, day, points, reference, reason)]
    for index, person in enumerate(people):
        if person.referred_by is not None and person.buys:
            first = person.buys[0]
            rewards.append((person.referred_by, index, first))
            reference = f"referral:{first.reference}"  # as ReferralReward.reference
            if settings.MEMBER_REFERRAL_POINTS:
                extra[person.referred_by].append(
                    (first.paid_at, first.day, settings.MEMBER_REFERRAL_POINTS, reference, "member-get-member reward")
                )
            if settings.MEMBER_REFERRAL_WELCOME_POINTS:
                extra[index].append(
                    (first.paid_at, first.day, settings.MEMBER_REFERRAL_WELCOME_POINTS, reference, "welcome reward")
                )
    for index, person in enumerate(people):
        events = [(b.paid_at, 0, b.day, b) for b in person.buys] + [(e[0], 1, e[1], e) for e in extra[index]]
        events.sort(key=lambda e: e[:2])
        history: list[_Buy] = []
        for at, kind, day, event in events:
            _expire(person, before=day, now=ctx.now)
            if kind == 1:
                _at, _day, points, reference, reason = event
                _earn(person, points, at, expiry(day), reference, reason)
                continue
            since = window_start(day)
            spend = sum((b.amount for b in history if b.paid_at >= since), Decimal(0))
            history.append(event)
            if person.balance >= 100 and rng.random() < 0.3:
                _redeem(person, rng.choice([s for s in REDEEM_STEPS if s <= person.balance]), at, event.reference)
            multiplier = _reached(ctx.tiers, spend).points_multiplier
            points = int((event.amount * multiplier / ctx.spend_per_point).to_integral_value(rounding=ROUND_FLOOR))
            if points:
                _earn(person, points, at, expiry(day), event.reference, "")
        _expire(person, before=ctx.today, now=ctx.now)
        person.member.points_balance = person.balance
    return rewards


def _earn(person: _Person, points: int, at: datetime, expires_on: date, reference: str, reason: str) -> None:
    person.lots.append([expires_on, points, points, at, reference])
    _entry(person, PointsEntry.Kind.EARN, points, at, reference, reason)


def _redeem(person: _Person, points: int, at: datetime, reference: str) -> None:
    """Earliest to expire first, as ``services.points_redeem`` (the lots are in creation order)."""
    left = points
    for lot in sorted((lot for lot in person.lots if lot[2]), key=lambda lot: lot[0]):
        take = min(lot[2], left)
        lot[2] -= take
        left -= take
        if not left:
            break
    _entry(person, PointsEntry.Kind.REDEEM, -points, at, reference, "")


def _expire(person: _Person, *, before: date, now: datetime) -> None:
    """What the nightly job (00:10) did to lots whose date passed before ``before``: one entry a night."""
    due = defaultdict(list)
    for lot in person.lots:
        if lot[2] and lot[0] < before:
            due[lot[0]].append(lot)
    for expires_on in sorted(due):
        points = sum(lot[2] for lot in due[expires_on])
        for lot in due[expires_on]:
            lot[2] = 0
        at = min(_local(expires_on + timedelta(days=1), 0, 10), now)
        _entry(person, PointsEntry.Kind.EXPIRE, -points, at, "", "expired")


def _entry(person: _Person, kind: str, points: int, at: datetime, reference: str, reason: str) -> None:
    person.balance += points
    person.entries.append((kind, points, person.balance, at, reference, reason))


def _window_start(day: date) -> datetime:
    """Where the rolling 12 months up to ``day`` start (``members.loyalty.rolling_spend``)."""
    return _start_of(day - relativedelta(months=12))


def _tiers(ctx: _Context, people: list[_Person]) -> None:
    since = _window_start(ctx.today)
    for person in people:
        person.spend_12m = sum((b.amount for b in person.buys if b.paid_at >= since), Decimal(0))
        person.tier = _reached(ctx.tiers, person.spend_12m)


def _write(ctx: _Context, people: list[_Person], buys: list[_Buy], rewards, coupons: _Coupons) -> None:
    """One bulk insert per table (in batches). Members in the order they joined, so ids follow; lots and
    entries in time order, which keeps each member's in the order they happened."""
    with _historical_timestamps(
        Member, Identity, Consent, PointsLot, PointsEntry, Coupon, WalletCoupon, CouponRedemption, ReferralReward
    ):
        order = sorted(people, key=lambda p: p.member.created_at)
        Member.objects.bulk_create([p.member for p in order if p.referred_by is None], batch_size=BATCH)
        for person in order:
            if person.referred_by is not None:
                person.member.referred_by_id = people[person.referred_by].member.pk
        Member.objects.bulk_create([p.member for p in order if p.referred_by is not None], batch_size=BATCH)
        identities = [
            Identity(member_id=p.member.pk, provider=provider, external_id=external_id, created_at=at)
            for p in people
            for provider, external_id, at in p.identities
        ]
        Identity.objects.bulk_create(sorted(identities, key=lambda r: r.created_at), batch_size=BATCH)
        consents = [
            Consent(member_id=p.member.pk, purpose=purpose, granted=granted, source=source, recorded_at=at)
            for p in people
            for purpose, granted, source, at in p.consents
        ]
        Consent.objects.bulk_create(sorted(consents, key=lambda r: r.recorded_at), batch_size=BATCH)
        channel_ids = {code: channel.pk for code, channel in ctx.channels.items()}
        for buy in buys:
            buy.row = Purchase(
                member_id=people[buy.person].member.pk,
                reference=buy.reference,
                channel_id=channel_ids[buy.channel],
                store_id=buy.store_id,
                amount=buy.amount,
                paid_at=buy.paid_at,
            )
        Purchase.objects.bulk_create([b.row for b in buys], batch_size=BATCH)
        lots = sorted(
            (
                (at, p.member.pk, n, expires_on, earned, remaining, reference)
                for p in people
                for n, (expires_on, earned, remaining, at, reference) in enumerate(p.lots)
            ),
            key=lambda row: row[:3],
        )
        PointsLot.objects.bulk_create(
            [
                PointsLot(
                    member_id=member_id,
                    earned=earned,
                    remaining=remaining,
                    expires_on=expires_on,
                    reference=reference,
                    created_at=at,
                )
                for at, member_id, _n, expires_on, earned, remaining, reference in lots
            ],
            batch_size=BATCH,
        )
        entries = sorted(
            ((entry[3], p.member.pk, n, entry) for p in people for n, entry in enumerate(p.entries)),
            key=lambda row: row[:3],
        )
        PointsEntry.objects.bulk_create(
            [
                PointsEntry(
                    member_id=member_id,
                    kind=kind,
                    points=points,
                    balance_after=balance_after,
                    reference=reference,
                    reason=reason,
                    created_at=at,
                )
                for _at, member_id, _n, (kind, points, balance_after, at, reference, reason) in entries
            ],
            batch_size=BATCH,
        )
        MemberTier.objects.bulk_create(
            [
                MemberTier(
                    member_id=p.member.pk,
                    tier_id=p.tier.pk,
                    valid_until=(
                        ctx.today + relativedelta(months=p.tier.validity_months)
                        if p.tier.rank > ctx.tiers[0].rank
                        else None
                    ),
                )
                for p in people
            ],
            batch_size=BATCH,
        )
        TierChange.objects.bulk_create(
            [
                TierChange(member_id=p.member.pk, to_tier_id=p.tier.pk, spend_12m=p.spend_12m, reason="upgrade")
                for p in people
            ],
            batch_size=BATCH,
        )
        ReferralReward.objects.bulk_create(
            [
                ReferralReward(
                    referrer_id=people[referrer].member.pk,
                    referred_id=people[referred].member.pk,
                    purchase_id=buy.row.pk,
                    points=settings.MEMBER_REFERRAL_POINTS,
                    welcome_points=settings.MEMBER_REFERRAL_WELCOME_POINTS,
                    created_at=buy.paid_at,
                )
                for referrer, referred, buy in rewards
            ],
            batch_size=BATCH,
        )
        _write_coupons(ctx, people, coupons, channel_ids)


def _write_coupons(ctx: _Context, people: list[_Person], plan: _Coupons, channel_ids: dict[str, int]) -> None:
    welcome = campaign_create(
        name="新會員見面禮 滿千折百",
        discount_type=CouponCampaign.Discount.AMOUNT,
        amount=Decimal(100),
        min_spend=Decimal(1000),
        starts_at=plan.welcome_starts,
        ends_at=_start_of(ctx.today + relativedelta(months=6)),
        code_type=CouponCampaign.Codes.SHARED,
        per_member_limit=1,
    )
    birthday = campaign_create(
        name="生日禮 85 折 (最高折 NT$500)",
        discount_type=CouponCampaign.Discount.PERCENT,
        percent=Decimal(15),
        max_discount=Decimal(500),
        starts_at=plan.birthday_starts,
        ends_at=_start_of(ctx.today.replace(day=1) + relativedelta(months=1)),
        code_type=CouponCampaign.Codes.UNIQUE,
        per_member_limit=1,
    )
    shared = Coupon(
        campaign=welcome,
        code=WELCOME_CODE,
        max_uses=None,
        times_used=len(plan.welcome_uses),
        created_at=plan.welcome_starts,
    )
    unique = {
        index: Coupon(
            campaign=birthday,
            code=code,
            member_id=people[index].member.pk,
            max_uses=1,
            times_used=int(index in plan.birthday_uses),
            created_at=plan.birthday_starts,
        )
        for index, code in plan.birthday
    }
    Coupon.objects.bulk_create([shared, *unique.values()], batch_size=BATCH)
    wallet = [
        WalletCoupon(
            member_id=people[index].member.pk,
            coupon=shared,
            collected_channel_id=people[index].member.registered_channel_id,
            collected_store_id=people[index].member.registered_store_id,
            collected_at=people[index].member.created_at,
        )
        for index in plan.welcome_wallet
    ] + [
        WalletCoupon(
            member_id=people[index].member.pk,
            coupon=coupon,
            collected_at=max(plan.birthday_starts, people[index].member.created_at),
        )
        for index, coupon in unique.items()
    ]
    WalletCoupon.objects.bulk_create(wallet, batch_size=BATCH)
    redemptions = [(shared, buy, Decimal(100)) for buy in plan.welcome_uses] + [
        # what was paid is what was left after 15% off: the discount is 15/85 of it, at most NT$500
        (unique[index], buy, min((buy.amount * 15 / 85).quantize(Decimal(1)), Decimal(500)))
        for index, buy in plan.birthday_uses.items()
    ]
    CouponRedemption.objects.bulk_create(
        [
            CouponRedemption(
                coupon=coupon,
                member_id=people[buy.person].member.pk,
                reference=buy.reference,
                discount=discount,
                channel_id=channel_ids[buy.channel],
                store_id=buy.store_id,
                redeemed_at=buy.paid_at,
            )
            for coupon, buy, discount in sorted(redemptions, key=lambda r: r[1].paid_at)
        ],
        batch_size=BATCH,
    )
    CouponCampaign.objects.filter(pk=welcome.pk).update(redeemed_count=len(plan.welcome_uses))
    CouponCampaign.objects.filter(pk=birthday.pk).update(redeemed_count=len(plan.birthday_uses))
