"""What the members app announces to apps above it (clerk attribution), inside the transaction of the
change, so nothing above is lost and members depends on nothing above it."""

from django.dispatch import Signal

# a new member was registered (sent with ``member`` inside the registering transaction; its
# ``registered_by`` and ``registered_store`` say which clerk and store, if any, signed them up)
member_registered = Signal()
