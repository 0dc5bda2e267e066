"""The clerk's side at the counter: logging a LINE chat with the member on the sale, and "my
performance" with bound members, attributed sales in every channel, the commission and the reasons."""

from attribution.models import Binding
from pos import services as pos
from tests.attribution.conftest import counter_sale, web_order


def test_a_clerk_logs_a_line_chat_at_the_counter_and_sees_their_performance(shop, policy, clock, client, clerk_a):
    policy()
    clock(1)
    till = pos.register_create(actor=None, store=shop.store_a, code="POS1", name="櫃台 1")
    client.force_login(clerk_a)
    client.post(f"/pos/r/{till.pk}/shift/open/", {"opening_cash": "0"})
    nobody = client.post(f"/pos/r/{till.pk}/chat/", {"note": "hello"}, HTTP_HX_REQUEST="true")
    assert nobody.status_code == 422 and not Binding.objects.exists()
    panel = client.post(f"/pos/r/{till.pk}/member/", {"phone": "0912-345-678"}, HTTP_HX_REQUEST="true")
    assert 'id="chat-form"' in panel.content.decode()
    logged = client.post(f"/pos/r/{till.pk}/chat/", {"note": "Asked for size M on LINE"}, HTTP_HX_REQUEST="true")
    assert logged.status_code == 200
    chat = Binding.objects.get()
    assert (chat.source, chat.clerk, chat.store, chat.note) == (
        "line_chat",
        clerk_a,
        shop.store_a,
        "Asked for size M on LINE",
    )

    counter_sale(shop, clerk_a, shop.store_a, shop.member)  # NT$300 at the counter
    clock(3)
    order = web_order(shop, shop.member, lines=[("JEANS-M", 1)])  # NT$1,200 online, by the latest binding
    page = client.get(f"/pos/r/{till.pk}/me/").content.decode()
    assert 'id="my-bound">1<' in page
    assert 'id="my-orders">2<' in page and 'id="my-attributed">1500<' in page
    assert 'id="my-commission">45<' in page  # 5% of 1,500 = 75, of which 60% personal
    assert order.number in page and "Policy v1" in page and 'id="attribution-note"' not in page
