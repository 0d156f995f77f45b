# kubetriage image: `docker build -t kubetriage .` (or `buildah bud`), used by deploy/cronjob.yaml.
# `make image` builds these same two stages as chroots of Debian 13 roots (tests/distro/image.sh) and
# runs the demo in the result as uid 65532 on a read-only root: keep the two in step.
# durable_rules (third_party/, patched for Python 3.13+) compiles a C extension: only the build stage
# has a compiler; the final stage gets the finished virtualenv.
FROM debian:trixie-slim AS build
RUN apt-get update && apt-get install -y --no-install-recommends python3-venv python3-dev gcc libc6-dev ca-certificates \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN python3 -m venv /opt/kubetriage \
    && /opt/kubetriage/bin/pip install --no-cache-dir ./third_party/durable_rules . \
    && /opt/kubetriage/bin/python third_party/durable_rules/selfcheck.py

FROM debian:trixie-slim
RUN apt-get update && apt-get install -y --no-install-recommends python3 \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /opt/kubetriage /opt/kubetriage
ENV PATH=/opt/kubetriage/bin:$PATH
USER 65532:65532
ENTRYPOINT ["kubetriage"]
CMD ["triage", "--in-cluster"]
