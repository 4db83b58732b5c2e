# Relais: one image for the web server, the outbox worker and migrations.
#   docker build -t relais .
#   docker run -p 8000:8000 -e RELAIS_META_APP_SECRET=... relais            # SQLite in /data
#   docker run relais relais db upgrade                                        # migrations only
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY app ./app
COPY classifier ./classifier
RUN python -m pip wheel --wheel-dir /wheels .

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    RELAIS_MODELS_DIR=/app/models RELAIS_DATABASE_URL=sqlite:////data/relais.db
RUN useradd --create-home --uid 10001 relais && mkdir -p /data /app && chown relais /data
COPY --from=build /wheels /wheels
RUN python -m pip install --no-deps /wheels/*.whl && python -m pip install /wheels/*.whl && rm -rf /wheels
WORKDIR /app
# The trained default model ships inside the image; a promoted retrained model can be mounted here.
COPY --chown=relais models ./models
USER relais
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz').status != 200)"
CMD ["relais", "serve", "--host", "0.0.0.0", "--port", "8000"]
