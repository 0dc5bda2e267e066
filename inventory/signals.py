"""Signals inventory sends so that apps above it (orders) can react inside the same transaction
without inventory depending on them. Receivers call their own services; no rules live here."""

from django.dispatch import Signal

# sent by services.transfer_receive after the goods are booked in; kwargs: transfer, actor
transfer_received = Signal()
