"""The outbox's senders of this worker, one per channel that is on: mail (SMTP, or .eml files in
development without SMTP_URL), push, and the webhook dispatcher. Each sends only while its
worker holds the channel's lease (server/outbox/sender.py)."""

from __future__ import annotations

from email.utils import parseaddr

from server.contract.context import App
from server.db.executor import Executor
from server.mail.deliver import MailDeliverer
from server.mail.files import FileTransport
from server.mail.smtp import SmtpTransport
from server.outbox.sender import Deliverer, Outlet, Sender, Tally
from server.push.deliver import PushDeliverer
from server.push.keys import vapid_key
from server.sealing import sealer_for
from server.webhooks.deliver import WebhookPoster
from server.webhooks.dispatcher import CHANNEL, Dispatcher
from server.webhooks.secrets import key_ring

STOP_MARGIN_SECONDS = 5.0  # a clean stop waits for the row in flight this much past its timeout


def start_senders(app: App) -> list[Outlet]:
    ctx, settings = app.ctx, app.ctx.settings
    db = Executor(ctx.db)
    registry = ctx.metrics.registry if ctx.metrics is not None else None
    deliverers: list[tuple[Deliverer, str]] = []
    if settings.mail_enabled:
        transport = (
            SmtpTransport(settings) if settings.smtp_url else FileTransport(settings.data_dir)
        )
        deliverers.append(
            (MailDeliverer(settings, sealer_for(settings.jwt_secret), transport), "Mails")
        )
    if settings.push_enabled:
        subject = f"mailto:{parseaddr(settings.mail_from)[1] or 'todo@localhost'}"
        deliverers.append(
            (
                PushDeliverer(
                    db, ctx.queries, vapid_key(settings), subject, public_only=settings.production
                ),
                "Pushes",
            )
        )
    senders: list[Outlet] = [
        Sender(
            db,
            ctx.queries,
            deliverer,
            settings.outbox_interval,
            Tally(registry, deliverer.channel, noun),
        )
        for deliverer, noun in deliverers
    ]
    senders.append(
        Dispatcher(
            db,
            ctx.queries,
            WebhookPoster(public_only=settings.production),
            settings.outbox_interval,
            Tally(registry, CHANNEL, "Webhook deliveries"),
            mail=settings.mail_enabled,
            keys=key_ring(settings),
        )
    )
    for sender in senders:
        sender.start()
    return senders


async def stop_senders(app: App) -> None:
    """Each sender finishes the row in flight (bounded), gives its batch and lease back."""
    for sender in app.ctx.senders:
        await sender.stop(app.ctx.settings.smtp_timeout + STOP_MARGIN_SECONDS)
