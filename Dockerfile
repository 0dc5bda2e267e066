# The OMO back office: one image for web (gunicorn), worker and beat (see docker-compose.yml).
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app

COPY pyproject.toml constraints.txt README.md ./
COPY omo ./omo
COPY catalog ./catalog
COPY inventory ./inventory
COPY members ./members
COPY orders ./orders
COPY pos ./pos
COPY attribution ./attribution
COPY locale ./locale
COPY manage.py ./
# Editable install: web, worker and beat all import the code in /app (with its locale/ beside it).
RUN pip install --no-cache-dir -c constraints.txt -e . \
 && DEBUG=0 ALLOWED_HOSTS=build SECRET_KEY="$(python -c 'import secrets; print(secrets.token_urlsafe(50))')" \
    python manage.py collectstatic --noinput \
 && useradd --system --uid 1000 omo && chown -R omo /app
USER omo
EXPOSE 8000
# gunicorn reads WEB_CONCURRENCY for its worker count: one per CPU core suits this CPU-bound app
# (bench/pos_sale.py: 2 workers on 2 cores sold more, and faster, than 3 or 4)
ENV WEB_CONCURRENCY=2
CMD ["gunicorn", "omo.wsgi:application", "--bind", "0.0.0.0:8000", "--timeout", "30", "--access-logfile", "-"]
