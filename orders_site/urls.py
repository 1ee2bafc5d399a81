from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from orders_site.pipeline.views import urls as pipeline_urls

urlpatterns = [
    *pipeline_urls(),
    path("admin/", admin.site.urls),
    path("", include("orders_site.observability.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="schema"), name="redoc"),
    path("api/", include("orders_site.api.urls")),
]

# JSON bodies under /api/, Django's HTML pages elsewhere (orders_site/api/errors.py).
handler400 = "orders_site.api.errors.bad_request"
handler403 = "orders_site.api.errors.permission_denied"
handler404 = "orders_site.api.errors.not_found"
handler500 = "orders_site.api.errors.server_error"
