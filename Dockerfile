# SwiftAI: the Discord bot and the web page in one process.
#   docker build -t swiftai .                          (CPU torch)
#   docker build -t swiftai --build-arg TORCH_INDEX_URL=https://download.pytorch.org/whl/cu126 .
#   docker run -p 8080:8080 -v swiftai-data:/data --env-file .env swiftai
FROM python:3.11-slim

# CPU wheels by default: the default PyPI torch pulls several GB of CUDA libraries.
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu

RUN useradd --create-home --uid 10001 swiftai && mkdir /data && chown swiftai /data
WORKDIR /app
COPY pyproject.toml README.md ./
COPY bot bot
COPY model model
COPY training training
COPY swiftai swiftai
COPY migrations migrations
RUN pip install --no-cache-dir --index-url "$TORCH_INDEX_URL" torch \
    && pip install --no-cache-dir -e .

ENV SWIFTAI_HOME=/data WEB_HOST=0.0.0.0 WEB_PORT=8080 HF_HOME=/data/hf-cache \
    PYTHONUNBUFFERED=1
USER swiftai
VOLUME /data
EXPOSE 8080
HEALTHCHECK --interval=30s --start-period=120s \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz')"
# SIGTERM (docker stop) lets songs in progress finish; allow it time: docker stop -t 45
STOPSIGNAL SIGTERM
CMD ["python", "-m", "bot"]
