import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orders_site.settings")
application = get_wsgi_application()

from orders_site import web_process  # noqa: E402 - needs the app (settings, apps) set up

web_process.prepare()
