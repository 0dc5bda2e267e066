"""Clerk-led outreach: a clerk sees, on the POS, the members of running campaigns bound to them, and
logging a LINE conversation with one binds the member to them per the referral policy."""

from __future__ import annotations

from datetime import time

from attribution import services as attribution
from attribution.models import Binding
from marketing import campaigns, services
from members import services as member_services
from pos import services as pos
from tests.attribution.conftest import DAY0, clock, counter_sale, policy  # noqa: F401 (fixtures)


def test_a_clerk_sees_their_campaign_members_and_logs_a_chat(
    shop,
    policy,  # noqa: F811
    clock,  # noqa: F811
    client,
    clerk_a,
    clerk_b,
    hq_admin,
    django_capture_on_commit_callbacks,
):
    policy()
    clock(1)
    counter_sale(shop, clerk_a, shop.store_a, shop.member)  # the member is bound to A (30 days)
    ken = member_services.member_register(phone="0922000111", name="Ken").member
    ann = member_services.member_register(phone="0933000222", name="Ann").member
    attribution.binding_assign(actor=hq_admin, member=ken, clerk=clerk_b, store=shop.store_b, reason="VIP")
    segment = services.segment_create(
        actor=hq_admin, name="Three", rules={"member_nos": [shop.member.member_no, ken.member_no, ann.member_no]}
    )
    campaign = campaigns.campaign_create(
        actor=hq_admin, name="Autumn", segment=segment, channel="sms", message="Hi {name}", control_percent=0,
        quiet_start=time(0), quiet_end=time(0),
    )  # fmt: skip
    with django_capture_on_commit_callbacks(execute=False):
        campaigns.campaign_launch(actor=hq_admin, campaign=campaign)
    campaigns.campaign_send_batch(campaign=campaign)
    till = pos.register_create(actor=None, store=shop.store_a, code="POS1", name="櫃台 1")
    client.force_login(clerk_a)
    page = client.get(f"/pos/r/{till.pk}/outreach/").content.decode()
    assert f'data-member="{shop.member.member_no}"' in page  # bound to A
    assert f'data-member="{ken.member_no}"' not in page  # bound to B
    assert f'data-member="{ann.member_no}"' not in page  # bound to nobody
    assert "0912-***-678" in page and "912345678" not in page  # the phone masked
    logged = client.post(f"/pos/r/{till.pk}/outreach/", {"member": ann.member_no, "note": "Asked about the sale"})
    assert logged.status_code == 200 and 'id="outreach-message"' in logged.content.decode()
    chat = Binding.objects.get(member=ann)
    assert (chat.source, chat.clerk, chat.store, chat.note) == (
        "line_chat",
        clerk_a,
        shop.store_a,
        "Asked about the sale",
    )
    assert f'data-member="{ann.member_no}"' in logged.content.decode()  # now bound to A: on the list
    unknown = client.post(f"/pos/r/{till.pk}/outreach/", {"member": "NOPE", "note": "x"})
    assert unknown.status_code == 422 and Binding.objects.filter(member=ann).count() == 1
