# kubetriage image: `docker build -t kubetriage .`, used by deploy/cronjob.yaml.
# durable_rules compiles a C extension, so wheels are built in a stage with a compiler.
FROM python:3.12-slim AS build
RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.12-slim
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index --find-links /wheels kubetriage && rm -rf /wheels
USER 65532:65532
ENTRYPOINT ["kubetriage"]
CMD ["triage", "--in-cluster"]
