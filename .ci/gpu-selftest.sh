#!/usr/bin/env bash
# The CUDA self-test as one prepared call on a borrowed GPU machine whose Python already has
# torch (no network there, so no nox/.venv): `nox -s gpu` does the same inside the project's
# environment wherever it can be installed.
#
#   .ci/gpu-selftest.sh wheels   here, with network: the pure-Python/binary packages the GPU
#                                image may lack (PyAV, fvcore and what it needs) -> .whl/
#                                (about 36 MB; .whl/ is git-ignored through .git/info/exclude)
#   .ci/gpu-selftest.sh run [selftest flags]
#                                there: installs .whl/*.whl into /tmp/site when present, runs
#                                `python3 -m reproducers selftest --device cuda`, and leaves the
#                                JSON, the record and the log in $OUT (or runs/selftest/)
#
# Afterwards copy $OUT/records/selftest/cuda.json to reports/records/selftest/cuda.json and run
# `python -m reproducers report`: the report's "Device self-test" section shows it.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
mode=${1:-run}
[ $# -gt 0 ] && shift

case "$mode" in
wheels)
    exclude=$(git rev-parse --git-path info/exclude)
    grep -qx '/.whl/' "$exclude" 2>/dev/null || echo '/.whl/' >>"$exclude"
    mkdir -p .whl
    plat=(--platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64
          --platform manylinux2014_x86_64 --python-version 3.12 --implementation cp)
    "$PY" -m pip download -q --no-deps --only-binary=:all: "${plat[@]}" -d .whl \
        av==18.1.0 iopath==0.1.9 yacs==0.1.8 termcolor==2.4.0
    # fvcore publishes no wheel: build its (pure-Python) one from the sdist
    "$PY" -m pip wheel -q --no-deps -w .whl fvcore==0.1.5.post20221221
    ls -la .whl
    ;;
run)
    out=${OUT:-runs/selftest}
    mkdir -p "$out"
    if compgen -G ".whl/*.whl" >/dev/null; then
        "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
            --target /tmp/site .whl/*.whl
        export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
    fi
    export PYTHONPATH=$PWD:${PYTHONPATH:-} PYTHONUNBUFFERED=1
    nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv \
        >"$out/nvidia-smi.csv" 2>&1 || true
    set +e
    timeout "${SELFTEST_TIMEOUT:-560}" "$PY" -m reproducers selftest --device cuda \
        --out "$out/selftest.json" --records-dir "$out/records" "$@" 2>&1 | tee "$out/selftest.log"
    rc=${PIPESTATUS[0]}
    echo "selftest exit code $rc"
    exit "$rc"
    ;;
*)
    echo "usage: $0 wheels | run [selftest flags]" >&2
    exit 2
    ;;
esac
