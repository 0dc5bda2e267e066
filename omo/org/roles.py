"""Staff roles. Each role is a Django permission group (created by migration org.0002) of the same name.

HQ roles see every store; store roles see only their home store. Later apps grant their own model
permissions to these groups in their own data migrations with ``omo.org.migration_helpers.grant``.
"""

from django.db import models
from django.utils.translation import gettext_lazy as _


class Role(models.TextChoices):
    HQ_ADMIN = "hq_admin", _("HQ admin")
    HQ_MERCHANDISER = "hq_merchandiser", _("HQ merchandiser")
    HQ_CRM = "hq_crm", _("HQ CRM")
    HQ_FINANCE = "hq_finance", _("HQ finance")
    STORE_MANAGER = "store_manager", _("Store manager")
    CLERK = "clerk", _("Clerk")


HQ_ROLES = frozenset({Role.HQ_ADMIN, Role.HQ_MERCHANDISER, Role.HQ_CRM, Role.HQ_FINANCE})
STORE_ROLES = frozenset({Role.STORE_MANAGER, Role.CLERK})
