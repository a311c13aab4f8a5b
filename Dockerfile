# One image for all four services; the command picks the service (python -m services.<name>).
# Same install step as `make`: pip install of this project with its pinned dependencies.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY contracts ./contracts
COPY runtime ./runtime
COPY services ./services
COPY samenwijk_dev ./samenwijk_dev
RUN pip install --no-cache-dir . && useradd --system --uid 10001 samenwijk
USER samenwijk
ENV SAMENWIJK_HTTP_HOST=0.0.0.0
CMD ["python", "-m", "services.intake"]
