"""Load the demo catalog and the demo staff user (idempotent: a second run changes nothing)."""
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from rest_framework.authtoken.models import Token

from orders_site.catalog.services import receive_product

DEMO_USER = "demo"
DEMO_PASSWORD = "demo-password"
DEMO_PRODUCTS = [
    ("KB-001", "Mechanical keyboard", 8900, 50),
    ("MS-002", "Wireless mouse", 2900, 100),
    ("MN-003", "27-inch monitor", 24900, 10),
    ("HS-004", "Noise-cancelling headset", 15900, 25),
    ("CB-005", "USB-C cable", 900, 1000),
]


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
