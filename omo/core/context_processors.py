from django.conf import settings


def brand(request):
    return {"BRAND_NAME": settings.BRAND_NAME}
