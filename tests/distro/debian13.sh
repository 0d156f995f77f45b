#!/usr/bin/env bash
# Install kubetriage on Debian 13 "trixie" (Python 3.13, GCC 14) as a new user would, and test it
# there: the README's `make demo`, then the engine and rule tests; with --full, the README's whole
# `make test` (it installs sshd, Chromium, iproute2 … in the root, as on a bare machine). The root is made once per machine
# (lib.sh); each run works in a throwaway overlay in a private mount namespace, so runs leave nothing
# behind, can run side by side, and their mounts vanish with them. Needs root.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

# Engine and rule tests: sshd, Chromium and network namespaces are tested on the host.
tests=(tests/test_package.py tests/test_evaluators.py tests/test_rule_cases.py tests/test_rule_validation.py
       tests/test_scenarios.py tests/test_signatures.py tests/test_normalize.py tests/test_snapshot.py
       tests/test_triage_cli.py)

if [ "${1:-}" = --inside ]; then
    root=$(overlay "$2" "$3")
    prepare_build_root "$root"
    if [ "$4" = full ]; then
        prepare_test_root "$root"
        in_root "$root" '
            cd /src
            echo "debian13: $(python3 --version), $(gcc --version | head -1)"
            make demo
            make test'
    else
        in_root "$root" '
            cd /src
            echo "debian13: $(python3 --version), $(gcc --version | head -1)"
            make demo
            .venv/bin/python -m pytest -q -p no:cacheprovider "$@"' sh "${tests[@]}"
    fi
    exit
fi
mode=subset what="make demo and the engine and rule tests"
if [ "${1:-}" = --full ]; then
    mode=full what="make demo and make test"
fi
skip_unless_debootstrap_runs "the Debian 13 install test (tests/distro/debian13.sh)"
base=$(cached_root "$build_packages")
run=$(mktemp -d "$cache/run.XXXXXX")
trap 'rm -rf "$run"' EXIT
start=$SECONDS
unshare --mount --propagation private "$0" --inside "$base" "$run" "$mode"
echo "debian13: $what passed on Debian 13 in $((SECONDS - start)) s"
