"""Webhooks as the Hugging Face API defines them: a user's webhooks (``store``), the
events they receive, written in the event's own transaction and handed to the job
queue once it commits (``events``), and deliveries (``delivery``): signed with the
webhook's secret, retried, and sent only to public addresses (or networks the
operator allows), checked on the address the URL resolves to at delivery time.

May import: ``accounts``, ``db``, ``validation`` and the foundation modules (``hub``
for type hints only).
"""

from .delivery import DeliveryRefused, deliver
from .events import Webhooks
from .store import WebhookSecrets

__all__ = ["DeliveryRefused", "WebhookSecrets", "Webhooks", "deliver"]
