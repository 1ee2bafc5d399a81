"""Load the demo catalog and the demo staff user (idempotent: a second run changes nothing)."""
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from rest_framework.authtoken.models import Token

from orders_site.catalog.demo import DEMO_PASSWORD, DEMO_PRODUCTS, DEMO_USER
from orders_site.catalog.services import receive_product


class Command(BaseCommand):
    help = __doc__

    def handle(self, *args, **options) -> None:
        for sku, name, price, qty in DEMO_PRODUCTS:
            receive_product(sku=sku, name=name, price_minor=price, quantity=qty)
        User = get_user_model()
        user, created = User.objects.get_or_create(username=DEMO_USER, defaults={"is_staff": True,
                                                                                 "is_superuser": True})
        if created:
            user.set_password(DEMO_PASSWORD)
            user.save()
        token, _ = Token.objects.get_or_create(user=user)
        self.stdout.write(f"demo user: {DEMO_USER} / {DEMO_PASSWORD}  API token: {token.key}")
