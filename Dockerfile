# One image for both roles: `tenure serve` (default) or `tenure worker`.
FROM python:3.11-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
RUN python -m venv /opt/tenure
COPY pyproject.toml README.md ./
COPY app ./app
RUN /opt/tenure/bin/pip install .

FROM python:3.11-slim AS runtime
ENV PATH=/opt/tenure/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    TENURE_HOST=0.0.0.0 \
    TENURE_DATABASE_URL=sqlite+aiosqlite:////srv/tenure/var/tenure.db
RUN useradd --system --create-home --home-dir /srv/tenure --uid 10001 tenure
COPY --from=build /opt/tenure /opt/tenure
WORKDIR /srv/tenure
COPY --chown=tenure:tenure alembic.ini ./
COPY --chown=tenure:tenure migrations ./migrations
RUN mkdir -p var && chown tenure:tenure var
USER tenure
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=3s CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/healthz').status == 200 else 1)"
ENTRYPOINT ["tenure"]
CMD ["serve"]
