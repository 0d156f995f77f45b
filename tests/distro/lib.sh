# Shared by the distro scripts: Debian roots made once per machine by debootstrap, entered through
# throwaway overlays. Source it; the caller runs as root, inside a private mount namespace for `overlay`.

cache=${KUBETRIAGE_CACHE:-/var/cache/kubetriage}
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
suite=trixie  # Debian 13
# What building kubetriage needs: the Dockerfile's build stage, plus make and git for `make demo`.
build_packages=python3,python3-venv,python3-dev,gcc,libc6-dev,make,git,ca-certificates

# Loud, and exit 0: only for machines where debootstrap itself cannot run.
skip_unless_debootstrap_runs() {
    if [ "$(id -u)" != 0 ] || ! command -v debootstrap >/dev/null || ! command -v unshare >/dev/null; then
        echo "################################################################################" >&2
        echo "## SKIPPED $1: needs root, debootstrap and unshare." >&2
        echo "## Nothing was tested on Debian 13 by this run." >&2
        echo "################################################################################" >&2
        exit 0
    fi
}

# The Debian archive this machine's apt uses (deb822 `URIs:` or one-line `deb` sources).
debian_mirror() {
    cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null |
        awk '/^(URIs:|deb )/ { for (i = 2; i <= NF; i++) if ($i ~ /^https?:\/\/.*\/debian\/?$/) { print $i; exit } }' |
        grep . || echo http://deb.debian.org/debian
}

# Prints the path of a minbase root with PACKAGES (comma-separated), building it on first use; a
# changed package list makes a new root. Concurrent callers wait for one build.
cached_root() {
    local packages=$1 root start=$SECONDS mirror
    root=$cache/$suite-$(printf '%s' "$packages" | cksum | cut -d' ' -f1)
    mkdir -p "$cache"
    (
        flock 9
        if [ ! -e "$root/.complete" ]; then
            mirror=$(debian_mirror)
            echo "building a Debian $suite root with $packages from $mirror (once per machine)" >&2
            rm -rf "$root.partial"
            debootstrap --variant=minbase --include="$packages" "$suite" "$root.partial" "$mirror" \
                >"$root.log" 2>&1 || { tail -20 "$root.log" >&2; exit 1; }
            touch "$root.partial/.complete"
            mv "$root.partial" "$root"
            echo "built $root in $((SECONDS - start)) s" >&2
        fi
    ) 9>"$cache/$suite.lock"
    echo "$root"
}

# Mounts a writable throwaway overlay of BASE at DIR/root (changes go to DIR/upper) and prints it.
overlay() {
    local base=$1 dir=$2
    mkdir -p "$dir/upper" "$dir/work" "$dir/root"
    mount -t overlay overlay -o "lowerdir=$base,upperdir=$dir/upper,workdir=$dir/work" "$dir/root"
    echo "$dir/root"
}

# Makes ROOT usable by chroot for building: /proc, /dev, name resolution, this machine's certificate
# authorities (a proxy may re-sign PyPI), a pip cache shared across runs, and the work tree at /src as
# git sees it (committed, changed and new files; nothing ignored, so no .venv or build/).
prepare_build_root() {
    local root=$1
    mount -t proc proc "$root/proc"
    mount --rbind /dev "$root/dev"
    mkdir -p "$cache/pip" "$root/root/.cache/pip" "$root/src"
    mount --bind "$cache/pip" "$root/root/.cache/pip"
    cp /etc/resolv.conf "$root/etc/resolv.conf"
    cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
    git -C "$repo" ls-files -z --cached --others --exclude-standard |
        tar -C "$repo" --null --ignore-failed-read -T - -cf - 2>/dev/null | tar -C "$root/src" -xf -
}

# Makes a prepared ROOT able to run the whole suite: sysfs and a private /run and /tmp (sshd, network
# namespaces, Chromium), and packages installed without starting their services.
prepare_test_root() {
    local root=$1
    mount -t sysfs sysfs "$root/sys"
    mount -t tmpfs tmpfs "$root/run"
    mount -t tmpfs tmpfs "$root/tmp"
    printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
    chmod +x "$root/usr/sbin/policy-rc.d"
}

# Runs a shell script (then its arguments) in ROOT with a clean environment.
in_root() {
    local root=$1
    shift
    chroot "$root" /usr/bin/env -i PATH=/usr/local/bin:/usr/bin:/bin HOME=/root LANG=C.UTF-8 \
        SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt /bin/sh -ec "$@"
}
