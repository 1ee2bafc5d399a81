import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orders_site.settings")
django_application = get_wsgi_application()

from orders_site import web_process  # noqa: E402 - needs the app (settings, apps) set up
from orders_site.api import checkout_wsgi  # noqa: E402

# Token checkouts are answered ahead of Django's handler, everything else by Django (checkout_wsgi.py).
application = checkout_wsgi.routed(django_application)

web_process.prepare()
