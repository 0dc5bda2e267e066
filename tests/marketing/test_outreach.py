"""Clerk-led outreach: a clerk sees, on the POS, the members of running campaigns bound to them who
were sent the message and still consent, and logging a LINE conversation with one binds the member to
them per the referral policy; nobody else can be logged there."""

from __future__ import annotations

from datetime import datetime, time

from django.utils import timezone

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
    joe = member_services.member_register(phone="0944000333", name="Joe").member
    lee = member_services.member_register(phone="0955000444", name="Lee").member
    for member in (shop.member, ken, ann, lee):
        member_services.member_update(member=member, consents={"sms": True})  # Joe never said yes
    attribution.binding_assign(actor=hq_admin, member=ken, clerk=clerk_b, store=shop.store_b, reason="VIP")
    for member in (joe, lee):
        attribution.binding_assign(actor=hq_admin, member=member, clerk=clerk_a, store=shop.store_a, reason="VIP")
    segment = services.segment_create(
        actor=hq_admin, name="Five", rules={"member_nos": [m.member_no for m in (shop.member, ken, ann, joe, lee)]}
    )
    campaign = campaigns.campaign_create(
        actor=hq_admin, name="Autumn", segment=segment, channel="sms", message="Hi {name}", control_percent=0,
    )  # fmt: skip
    sent_at = timezone.make_aware(datetime.combine(timezone.localdate(), time(10)))
    with django_capture_on_commit_callbacks(execute=False):
        campaigns.campaign_launch(actor=hq_admin, campaign=campaign, now=sent_at)
    campaigns.campaign_send_batch(campaign=campaign, now=sent_at)
    assert campaign.recipients.get(member=joe).status == "no_consent"
    member_services.member_update(member=lee, consents={"sms": False})  # Lee said no after the message
    till = pos.register_create(actor=None, store=shop.store_a, code="POS1", name="櫃台 1")
    client.force_login(clerk_a)
    page = client.get(f"/pos/r/{till.pk}/outreach/").content.decode()
    assert f'data-member="{shop.member.member_no}"' in page  # bound to A, sent, consenting
    assert f'data-member="{ken.member_no}"' not in page  # bound to B
    assert f'data-member="{ann.member_no}"' not in page  # bound to nobody
    assert f'data-member="{joe.member_no}"' not in page  # bound to A, but not sent: no consent
    assert f'data-member="{lee.member_no}"' not in page  # bound to A, sent, then withdrew consent
    assert "0912-***-678" in page and "912345678" not in page  # the phone masked
    logged = client.post(f"/pos/r/{till.pk}/outreach/", {"member": shop.member.member_no, "note": "Asked about it"})
    assert logged.status_code == 200 and 'id="outreach-message"' in logged.content.decode()
    chat = Binding.objects.get(member=shop.member, source="line_chat")
    assert (chat.clerk, chat.store, chat.note) == (clerk_a, shop.store_a, "Asked about it")
    for outsider in (ann.member_no, ken.member_no, joe.member_no, "NOPE"):  # not on A's list: refused
        refused = client.post(f"/pos/r/{till.pk}/outreach/", {"member": outsider, "note": "x"})
        assert refused.status_code == 422
    assert not Binding.objects.filter(member__in=[ann, joe], source="line_chat").exists()
    assert Binding.objects.filter(member=ken).count() == 1
