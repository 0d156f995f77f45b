#!/usr/bin/env bash
# Build the image the Dockerfile describes without a container engine, and run the demo in it.
# Each stage starts from a Debian 13 minbase root (lib.sh; the stand-in for debian:trixie-slim) with the
# stage's apt packages, and runs the stage's commands in a chroot: the build stage fills
# /opt/kubetriage; the final stage gets that virtualenv, must hold no compiler, and triages the bundled
# outage as uid 65532 with its root filesystem read-only, as deploy/cronjob.yaml runs it. Needs root.
# Usage: image.sh [KUBETRIAGE]: with KUBETRIAGE, the image's report must equal its report.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

final_packages=python3

if [ "${1:-}" = --inside ]; then
    build=$(overlay "$2" "$4/build")
    prepare_build_root "$build"
    in_root "$build" '
        cd /src
        python3 -m venv /opt/kubetriage
        /opt/kubetriage/bin/pip install --quiet ./third_party/durable_rules .
        /opt/kubetriage/bin/python third_party/durable_rules/selfcheck.py'
    image=$(overlay "$3" "$4/image")
    cp -a "$build/opt/kubetriage" "$image/opt/kubetriage"
    for cc in gcc cc c99 x86_64-linux-gnu-gcc; do
        if chroot "$image" /bin/sh -c "command -v $cc"; then echo "image: a compiler ($cc) in the final stage" >&2; exit 1; fi
    done
    mkdir "$image/demo"
    mount --bind -o ro "$repo/examples/rke2-outage" "$image/demo"
    mount -o remount,ro "$image"
    chroot --userspec=65532:65532 "$image" /usr/bin/env -i PATH=/opt/kubetriage/bin:/usr/bin:/bin HOME=/ \
        kubetriage triage --snapshot /demo -o json --fail-on never >"$4/demo.json"
    echo "image: $(du -sh --exclude=proc "$image" | cut -f1) root filesystem, the virtualenv $(du -sh "$image/opt/kubetriage" | cut -f1)"
    exit
fi
skip_unless_debootstrap_runs "the image build (tests/distro/image.sh)"
build_base=$(cached_root "$build_packages")
final_base=$(cached_root "$final_packages")
run=$(mktemp -d "$cache/run.XXXXXX")
trap 'rm -rf "$run"' EXIT
start=$SECONDS
unshare --mount --propagation private "$0" --inside "$build_base" "$final_base" "$run"
# The image must find what this machine's install finds on the same snapshot.
if [ -n "${1:-}" ]; then
    "$1" triage --snapshot "$repo/examples/rke2-outage" -o json --fail-on never >"$run/expected.json"
    cmp -s "$run/expected.json" "$run/demo.json" || { diff "$run/expected.json" "$run/demo.json" >&2; exit 1; }
fi
grep -o '"rule_id": "[^"]*"' "$run/demo.json" | sed 's/^/image: the demo found /'
echo "image: built and ran the demo in $((SECONDS - start)) s"
