#!/usr/bin/env bash
# Set up kgpipe in ./.venv: install the project and cache the embedded default input
# (a real English Wikipedia export read out of gensim's wheel) and the GraphFrames jar.
#   bash infra/setup.sh          runtime dependencies
#   bash infra/setup.sh --dev    plus the test tools (and, as root, chromium + chromedriver and
#                                prometheus' promtool from apt)
# Needs Python 3.10+ and, for the Spark stages, Java 17. Re-running skips what is done.
set -euo pipefail
cd "$(dirname "$0")/.."

extras=""
[ "${1:-}" = "--dev" ] && extras="[dev]"
python=${PYTHON:-$(command -v python3.11 || command -v python3)}

java -version >/dev/null 2>&1 || echo "setup: warning: no java on PATH; the Spark stages need Java 17" >&2

[ -x .venv/bin/python ] || "$python" -m venv .venv
stamp=".venv/.kgpipe-installed${extras}"
want=$(cat setup.py | sha256sum | cut -c1-16)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    # The CPU build of torch first: an unpinned torch resolves to a multi-GB CUDA build.
    # GPU machines install their CUDA torch and `.[gpu]` themselves.
    .venv/bin/python -m pip install --quiet --disable-pip-version-check "torch==2.13.0"
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".${extras}"
    echo "$want" > "$stamp"
fi
if [ -n "$extras" ] && ! { command -v chromium >/dev/null && command -v chromedriver >/dev/null; }; then
    # tests/test_web.py drives headless Chromium; Debian packages the browser and its matching driver
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver; } \
            >/dev/null 2>&1 \
            || echo "setup: warning: apt-get could not install chromium and chromium-driver; tests/test_web.py will be skipped" >&2
    else
        echo "setup: warning: chromium and chromium-driver are missing (install them with apt-get as root); tests/test_web.py will be skipped" >&2
    fi
fi
if [ -n "$extras" ] && ! command -v promtool >/dev/null; then
    # tests/test_metrics.py runs `promtool check rules` and `promtool test rules` on infra/monitoring;
    # Debian's prometheus package ships promtool; on a host with systemd it also starts a Prometheus server
    # (`systemctl disable --now prometheus` stops it), which a container's policy-rc.d prevents
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus; } \
            >/dev/null 2>&1 \
            || echo "setup: warning: apt-get could not install prometheus (promtool); its tests in tests/test_metrics.py will be skipped" >&2
    else
        echo "setup: warning: promtool is missing (apt-get install prometheus as root); its tests in tests/test_metrics.py will be skipped" >&2
    fi
fi
.venv/bin/kgpipe fetch >/dev/null
echo "setup: ready (.venv, cached inputs in ${KGPIPE_CACHE:-$HOME/.cache/kgpipe})"
