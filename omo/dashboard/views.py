"""The dashboard's pages at /dashboard/: HQ staff see every store, a store manager only their own. Each
page is built by its selector; a figure's table downloads as CSV or XLSX with ``?export=csv&figure=KEY``."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _

from omo.core.errors import ApplicationError, PermissionDeniedError
from omo.dashboard import pages
from omo.dashboard.filters import dashboard_allowed, filters_from
from omo.dashboard.forms import TrafficUploadForm, filter_choices
from omo.org.access import ALL_STORES, store_ids_for


@login_required
def page(request, key: str = "sales"):
    if key not in pages.PAGE_KEYS:
        raise Http404
    if not dashboard_allowed(request.user):
        return render(request, "dashboard/forbidden.html", status=403)
    try:
        filters = filters_from(request.GET, request.user)
        problems = {}
    except PermissionDeniedError:
        return render(request, "dashboard/forbidden.html", status=403)
    except ApplicationError as error:
        problems = error.details
        filters = filters_from({}, request.user)
    built = pages.build(key, filters)
    export = request.GET.get("export")
    if export:
        return _export(built, request.GET.get("figure", ""), export)
    context = {
        "page": built,
        "pages": pages.PAGES,
        "current": key,
        "filters": filters,
        "choices": filter_choices(request.user),
        "params": request.GET,
        "problems": problems,
        "comparison": filters.comparison(),
        "hq": store_ids_for(request.user) is ALL_STORES,
        "query": request.GET.urlencode(),
        "upload_form": TrafficUploadForm() if key == "formula" else None,
    }
    return render(request, "dashboard/page.html", context, status=400 if problems else 200)


def _export(built, figure_key: str, fmt: str) -> HttpResponse:
    figure = next((f for f in built.figures if f.key == figure_key), None)
    if figure is None or fmt not in ("csv", "xlsx"):
        raise Http404(_("No such figure or format."))
    body, content_type = figure.export(fmt)
    response = HttpResponse(body, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{built.key}-{figure.key}.{fmt}"'
    return response


@login_required
def traffic_upload(request):
    """The traffic CSV from the formula page; a store manager may send only their own store's counts."""
    from django.contrib import messages
    from django.shortcuts import redirect

    from omo.dashboard.services import traffic_import_csv

    if request.method != "POST":
        return redirect("dashboard:page", key="formula")
    if not dashboard_allowed(request.user):
        return render(request, "dashboard/forbidden.html", status=403)
    form = TrafficUploadForm(request.POST, request.FILES)
    if form.is_valid():
        upload = form.cleaned_data["file"]
        if upload.size > 10 * 1024 * 1024:
            messages.error(request, _("The file is larger than 10 MB; split it."))
        else:
            try:
                result = traffic_import_csv(data=upload.read(), actor=request.user)
                messages.success(
                    request,
                    _("%(rows)d traffic rows recorded (%(created)d new, %(updated)d replaced).") % result,
                )
            except ApplicationError as error:
                details = (
                    "; ".join(f"{k}: {v}" for k, v in list(error.details.items())[:20])
                    if isinstance(error.details, dict)
                    else ""
                )
                messages.error(request, f"{error.message} {details}")
    else:
        messages.error(request, _("Choose a CSV file."))
    return redirect("dashboard:page", key="formula")
