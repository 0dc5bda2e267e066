"""Request checks that hold for every page and API call."""

from django.http import HttpResponseBadRequest, JsonResponse
from django.utils.translation import gettext as _


class RejectNulMiddleware:
    """Refuses a URL or query string with a NUL character (``%00``) with 400.

    No address or query value of ours contains one, and PostgreSQL cannot store or compare one: a NUL that
    reached a query would end as a 500. (Bodies go through serializers, whose text fields refuse it.)"""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if "\x00" in request.path or any("\x00" in key + value for key, value in _query_items(request)):
            message = _("The address or query contains a NUL character.")
            if request.path.startswith("/api/"):
                return JsonResponse({"code": "invalid", "message": message, "details": {}}, status=400)
            return HttpResponseBadRequest(message)
        return self.get_response(request)


def _query_items(request):
    for key, values in request.GET.lists():
        for value in values:
            yield key, value
