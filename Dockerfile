# Relais: one image for the web server, the outbox worker and migrations.
#   docker build -t relais .
#   docker run -p 8000:8000 -e RELAIS_META_APP_SECRET=... relais            # SQLite in /data
#   docker run relais relais db upgrade                                        # migrations only
# The build stage installs Relais and its dependencies into a virtualenv; the final image gets
# that virtualenv alone (no wheels, no compilers, no test suites of the libraries). The build stage
# has a C compiler for the one compiled module, the classifier's scorer (classifier/_scoring.pyx).
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev \
    && rm -rf /var/lib/apt/lists/*
RUN python -m venv /opt/relais
WORKDIR /src
COPY pyproject.toml setup.py README.md ./
COPY app ./app
COPY classifier ./classifier
RUN /opt/relais/bin/pip install . \
    && /opt/relais/bin/pip uninstall -y pip \
    && find /opt/relais/lib -depth -type d \( -name tests -o -name __pycache__ \) -exec rm -rf {} + \
    && /opt/relais/bin/python -m compileall -q /opt/relais/lib

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PATH=/opt/relais/bin:$PATH \
    RELAIS_MODELS_DIR=/app/models RELAIS_DATABASE_URL=sqlite:////data/relais.db
RUN useradd --create-home --uid 10001 relais && mkdir -p /data /app && chown relais /data
COPY --from=build /opt/relais /opt/relais
WORKDIR /app
# The trained default model ships inside the image; a promoted retrained model can be mounted here.
COPY --chown=relais models ./models
USER relais
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz').status != 200)"
CMD ["relais", "serve", "--host", "0.0.0.0", "--port", "8000"]
