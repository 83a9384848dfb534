# Slim multi-stage image: build wheels with a compiler, run without one, as a non-root user.
FROM python:3.11.11-slim-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends build-essential && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml README.md ./
COPY app ./app
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
RUN useradd --create-home --uid 10001 nudge
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/* && rm -rf /wheels
# Owned by the app user: beat keeps its schedule file here.
WORKDIR /srv/nudge
RUN chown nudge:nudge /srv/nudge
COPY --chown=nudge:nudge migrations ./migrations
COPY --chown=nudge:nudge app ./app
USER nudge
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --retries=5 \
  CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2)"
CMD ["nudge", "serve", "--host", "0.0.0.0", "--port", "8000", "--workers", "4"]
