"""Signals inventory sends so that apps above it (orders) can react inside the same transaction
without inventory depending on them. Receivers call their own services; no rules live here."""

from django.dispatch import Signal

# sent by services.transfer_receive after the goods are booked in; kwargs: transfer, actor
transfer_received = Signal()

# sent by services.transfer_receive before it locks anything (receivers lock what they guard first, so
# the lock order is theirs, then the transfer, then the stock rows); kwargs: transfer
transfer_receiving = Signal()
