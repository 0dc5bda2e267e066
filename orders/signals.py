"""What the orders app announces to apps above it (clerk attribution), inside the transaction of the
change: a receiver must do nothing slow there (attribution records a binding and queues the rest for
after the commit)."""

from django.dispatch import Signal

# an order was fully paid (sent with ``order``, locked, inside the paying transaction)
order_paid = Signal()
# lines of a paid order came back (sent with ``ret``, the Return, inside its transaction)
order_returned = Signal()
# an order was cancelled (sent with ``order`` inside the cancelling transaction; a paid one is refunded)
order_cancelled = Signal()
