"""Runs a local webhook receiver that checks signatures and prints each event once (for trying out a
subscription: point it at http://127.0.0.1:<port>/hook)."""

import json
import time

from django.core.management.base import BaseCommand

from omo.events.receiver import WebhookReceiver


class Command(BaseCommand):
    help = "Receives webhooks on 127.0.0.1, checks their signature and prints each event once."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=8099)
        parser.add_argument("--secret", default="", help="The subscription's signing secret (checked if given).")

    def handle(self, *args, port, secret, **options):
        receiver = WebhookReceiver(secret, port=port).start()
        self.stdout.write(f"Listening on {receiver.url} (Ctrl-C stops)")
        seen = 0
        try:
            while True:
                time.sleep(0.2)
                for event_id in receiver.order[seen:]:
                    self.stdout.write(json.dumps(receiver.events[event_id], ensure_ascii=False))
                seen = len(receiver.order)
        except KeyboardInterrupt:
            receiver.stop()
