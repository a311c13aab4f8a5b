# One image for all four services; the command picks the service (python -m services.<name>).
# Same install steps as `make` (see the Makefile's $(STAMP) rule): upgrade pip, then pip install
# this project with its pinned dependencies — without `-e` and the `dev` extra (no test tools).
# tests/unit/test_deploy_image.py keeps the two in step.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY contracts ./contracts
COPY runtime ./runtime
COPY services ./services
COPY samenwijk_dev ./samenwijk_dev
RUN python -m pip install --no-cache-dir --upgrade pip \
 && python -m pip install --no-cache-dir . \
 && useradd --system --uid 10001 samenwijk
# Run from /app so the source tree (with its migrations, rules and seed files) is what is imported.
USER 10001
ENV SAMENWIJK_HTTP_HOST=0.0.0.0 \
    PYTHONUNBUFFERED=1
EXPOSE 8000
CMD ["python", "-m", "services.intake"]
