# The agentaudit image: one image, every stage; the command picks the stage
# (`process`, `sink`, `topics ensure`, `db migrate`, `query`, ...).
# Used by docker-compose.yml; build alone with `docker build -t agentaudit:local .`

# --- build: a wheel of this repository and wheels of all its dependencies ----
FROM python:3.11-slim AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
# Only what the wheel is made of (pyproject.toml names README.md as the
# project's readme; hatchling force-includes schemas/ as agentaudit/_schemas),
# so edits to tests or deploy files do not invalidate this layer.
COPY pyproject.toml README.md ./
COPY schemas ./schemas
COPY services ./services
RUN pip wheel --wheel-dir /wheels .

# --- runtime -----------------------------------------------------------------
FROM python:3.11-slim

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    AGENTAUDIT_HOME=/var/lib/agentaudit

# A fixed, unprivileged uid/gid, so a volume's owner can be set from outside.
RUN groupadd --system --gid 10001 agentaudit \
 && useradd --system --uid 10001 --gid agentaudit --no-create-home \
        --home-dir /var/lib/agentaudit --shell /usr/sbin/nologin agentaudit \
 && install -d -o agentaudit -g agentaudit -m 0750 /var/lib/agentaudit

# --no-index: the runtime stage installs exactly the wheels built above and
# never reaches a package index. The wheels are bind-mounted from the build
# stage (BuildKit, the default builder of Docker 23+ and of Compose), so they
# take no room in the image.
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-index --find-links=/wheels agentaudit \
 && agentaudit --version

# AGENTAUDIT_HOME: the processor keeps faust's local state here; nothing in it
# must outlive the container (offsets live in Kafka, records in ClickHouse).
WORKDIR /var/lib/agentaudit
USER agentaudit:agentaudit

ENTRYPOINT ["agentaudit"]
CMD ["--help"]
