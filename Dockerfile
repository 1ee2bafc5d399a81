# The application image: web, consumers, gateway simulator and connector registration.
FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 DJANGO_STATIC_ROOT=/app/static
WORKDIR /app
COPY pyproject.toml ./
COPY manage.py ./
COPY orders_site ./orders_site
COPY consumers ./consumers
COPY stack ./stack
COPY connect ./connect
COPY schemas ./schemas
RUN pip install . && useradd --system --uid 10001 app \
    && DJANGO_SECRET_KEY=build-only python manage.py collectstatic --noinput \
    && chown -R app /app
USER app
EXPOSE 8000
CMD ["python", "-m", "stack", "web-server", "--host", "0.0.0.0", "--port", "8000"]
