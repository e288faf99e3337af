# Attention Approximation Explorer: one replica of the hosted app (see docs/deployment.md).
#
#   docker build -t explorer .                        # add --build-arg WITH_MODEL=1 for live text
#                                                     # --build-arg WITH_EXPORT=0: no PNG/SVG/PDF
#   docker run --rm -p 8501:8501 \
#       -e STREAMLIT_SERVER_ALLOWED_HOSTS="demo.example.org" \
#       -e STREAMLIT_SERVER_COOKIE_SECRET="$(openssl rand -hex 32)" explorer
#
# Every setting is an environment variable, so a deployer overrides any of them with -e and
# nothing lands in .streamlit/config.toml (which local runs and the AppTest suite read).
# Precedence in Streamlit: command-line flag > STREAMLIT_* variable > config.toml.
FROM python:3.11-slim-bookworm

ARG WITH_MODEL=0
# PNG, SVG and PDF downloads of the charts: kaleido drives a headless Chromium, installed here
# from Debian with a font (without one, exported text would be blank). About 300 MB more;
# with WITH_EXPORT=0 the app says in each Download menu that images are not available here.
ARG WITH_EXPORT=1
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# CPU-only torch first, from PyTorch's CPU index (no CUDA libraries: ~5x smaller). The exact
# pin in requirements.txt (torch==2.13.0) is then already satisfied by 2.13.0+cpu.
RUN if [ "$WITH_EXPORT" = "1" ]; then \
        apt-get update \
        && apt-get install -y --no-install-recommends chromium fonts-dejavu-core \
        && rm -rf /var/lib/apt/lists/*; \
    fi
COPY requirements.txt requirements-model.txt requirements-export.txt ./
RUN pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu \
    && pip install -r requirements.txt \
    && if [ "$WITH_MODEL" = "1" ]; then pip install -r requirements.txt -r requirements-model.txt; fi \
    && if [ "$WITH_EXPORT" = "1" ]; then pip install -r requirements.txt -r requirements-export.txt; fi

# The app: code, pages, the shipped sample (explorer/inputs/data) and the theme in .streamlit/.
COPY . .

# An unprivileged user (numeric, so Kubernetes' runAsNonRoot can check it); the code stays
# owned by root, so the app cannot rewrite itself.
RUN groupadd --gid 10001 explorer \
    && useradd --uid 10001 --gid 10001 --create-home --shell /usr/sbin/nologin explorer
USER 10001:10001

# Hosted settings (each one can be overridden with docker run -e NAME=value):
#   ALLOWED_HOSTS  the host name(s) users reach the app by, space-separated: the websocket
#                  refuses any other Host header (DNS rebinding). The default only works for
#                  a local test (-p 8501:8501, http://localhost:8501): set it when deploying.
#   COOKIE_SECRET  deliberately not set here: give every replica the same secret (see
#                  docs/deployment.md); unset, each process draws a random one.
#   MAX_UPLOAD_SIZE 64 MB per file (Streamlit enforces it on the upload request), matched by
#                  the explorer's own cap on all files of one upload (EXPLORER_MAX_UPLOAD_BYTES,
#                  64 MiB) and 32 Mi tensor elements (256 MiB once converted to float64).
#   SHOW_ERROR_DETAILS "type": an unexpected exception shows its type, never the message or
#                  the traceback (paths, code); the server log keeps the details.
#   TOOLBAR_MODE   "viewer": no rerun / clear-cache / deploy items for visitors.
#   MAX_CACHE_DATA_SIZE all st.cache_data entries together (LRU beyond it).
#   EXPLORER_*     the request budget (explorer/experiments/budget.py): 2 heavy computations at once with
#                  1 torch thread each suits a 2-vCPU container; use cores / MAX_CONCURRENT
#                  threads on a bigger one.
ENV STREAMLIT_SERVER_ADDRESS=0.0.0.0 \
    STREAMLIT_SERVER_PORT=8501 \
    STREAMLIT_SERVER_HEADLESS=true \
    STREAMLIT_SERVER_FILE_WATCHER_TYPE=none \
    STREAMLIT_BROWSER_GATHER_USAGE_STATS=false \
    STREAMLIT_SERVER_ENABLE_XSRF_PROTECTION=true \
    STREAMLIT_SERVER_ENABLE_CORS=true \
    STREAMLIT_SERVER_ALLOWED_HOSTS="localhost 127.0.0.1" \
    STREAMLIT_SERVER_MAX_UPLOAD_SIZE=64 \
    STREAMLIT_SERVER_MAX_CACHE_DATA_SIZE=1gb \
    STREAMLIT_SERVER_ENABLE_STATIC_SERVING=false \
    STREAMLIT_CLIENT_SHOW_ERROR_DETAILS=type \
    STREAMLIT_CLIENT_TOOLBAR_MODE=viewer \
    EXPLORER_MAX_UPLOAD_BYTES=67108864 \
    EXPLORER_MAX_UPLOAD_ELEMENTS=33554432 \
    EXPLORER_MAX_CONCURRENT=2 \
    EXPLORER_TORCH_THREADS=1 \
    EXPLORER_MEMORY_MB=1024 \
    EXPLORER_SWEEP_TIMEOUT_S=120

EXPOSE 8501

# Liveness/readiness: GET /_stcore/health answers "ok" (python's urllib: no curl in the image).
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, sys, urllib.request; url = 'http://127.0.0.1:%s/_stcore/health' % os.environ.get('STREAMLIT_SERVER_PORT', '8501'); sys.exit(urllib.request.urlopen(url, timeout=4).read() != b'ok')"]

# One Streamlit process per container: sessions live in its memory (see docs/deployment.md).
CMD ["python", "-m", "streamlit", "run", "app.py"]
