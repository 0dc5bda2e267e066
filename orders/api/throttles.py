"""Rate limit of order placement (omo/core/ratelimit.py; rates in settings ``RATE_LIMITS``): per shopper
(the member of ``X-Member-Token``, the forwarded shopper address when trusted, or the staff login)
and per channel key. See members/api/throttles.py for who counts as the shopper."""

from members.api.throttles import shopper_rules
from omo.core.ratelimit import RuleThrottle


class OrderPlaceThrottle(RuleThrottle):
    def rules(self, request, view):
        return shopper_rules(request, "order") if request.method == "POST" else []
