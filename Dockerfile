# llmpulse exporter image: the `llmpulse` command on a slim Python base, as a non-root user, with no secrets inside.
#   docker build -t llmpulse:local .
#   docker run --rm -p 127.0.0.1:9877:9877 llmpulse:local serve --demo --listen 0.0.0.0:9877
#   docker run --rm -p 127.0.0.1:9877:9877 -e OPENAI_ADMIN_KEY -v "$PWD/llmpulse.yml:/etc/llmpulse/config.yml:ro" llmpulse:local
# The first is the demo (the simulator runs inside, no keys); the second serves your config (README "With your own
# keys"), with each key variable it names passed by -e.
# The same image runs the simulator (`simulate`) and the notification inbox (`stack inbox`) in docker-compose.yml.
ARG PYTHON_IMAGE=python:3.11.10-slim-bookworm

# --- build: a wheel of llmpulse and its dependencies, installed into a virtualenv that the runtime stage copies.
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
COPY pyproject.toml README.md LICENSE ./
COPY exporter ./exporter
RUN python -m pip wheel --wheel-dir /wheels . \
 && python -m venv /opt/llmpulse \
 && /opt/llmpulse/bin/pip install --no-index --find-links /wheels llmpulse \
 && /opt/llmpulse/bin/llmpulse version

# --- runtime: no compiler, no pip cache, no source tree; only the virtualenv.
FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="llmpulse" \
      org.opencontainers.image.description="Prometheus exporter and monitoring bundle for LLM APIs" \
      org.opencontainers.image.licenses="Apache-2.0"
ENV PATH="/opt/llmpulse/bin:${PATH}" \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    LLMPULSE_HEALTHCHECK_URL=http://127.0.0.1:9877/-/healthy
COPY --from=build /opt/llmpulse /opt/llmpulse
# A fixed numeric uid/gid so `runAsNonRoot` and read-only root filesystems work; no home, no shell login.
RUN groupadd --system --gid 10001 llmpulse \
 && useradd --system --uid 10001 --gid llmpulse --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin llmpulse \
 && mkdir -p /etc/llmpulse /var/lib/llmpulse /backfill \
 && chown 10001:10001 /var/lib/llmpulse /backfill && chmod 0700 /var/lib/llmpulse && chmod 0755 /backfill
# /var/lib/llmpulse: the state directory (`serve --state-dir`); a volume mounted there takes this owner.
# /backfill: where compose's backfill service writes backfill.om; the volume takes this owner and stays readable
# by the Prometheus image's promtool (uid nobody) that imports it.
USER 10001:10001
WORKDIR /etc/llmpulse
EXPOSE 9877
# No curl in the slim image: probe with the interpreter that is there anyway. Override the URL for the
# simulator/inbox services (compose does) or when serving on another port.
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(os.environ['LLMPULSE_HEALTHCHECK_URL'], timeout=4)"]
ENTRYPOINT ["llmpulse"]
# Serve the mounted config (mount yours at /etc/llmpulse/config.yml; keys via environment or files, never baked in).
CMD ["serve", "--config", "/etc/llmpulse/config.yml", "--listen", "0.0.0.0:9877"]
