#!/bin/bash
# Build the reference runc (default 1.5.1) into build/runc-<version>/runc, to compare bulkhead
# with the runc that containerd 2 and current distributions ship.
#
#   scripts/build-runc.sh SOURCE [VERSION]
#
# SOURCE is a runc source tree or a tarball of one (this script never fetches from GitHub:
# CI cannot reach it). To get one, from a runc git clone or mirror:
#     git -C RUNC_GIT archive --prefix=runc-1.5.1/ -o build/runc-1.5.1.tar v1.5.1
#
# runc 1.5's go.mod wants Go >= 1.25; Debian 12 has 1.19. The Go toolchain comes from Debian
# unstable (golang-1.26-go + golang-1.26-src) through `apt-get download` with a PRIVATE apt
# configuration under build/runc-apt/ (its own sources list, state and cache): nothing is added
# to the host's sources and nothing is installed from unstable; the .debs are only unpacked
# (dpkg-deb -x) under build/runc-apt/go. libseccomp-dev comes from the host's Debian 12.
# libpathrs is not packaged by Debian: built with RUNC_BUILDTAGS=-libpathrs.
set -euo pipefail
cd "$(dirname "$0")/.."
SRC=${1:?usage: scripts/build-runc.sh SOURCE_TREE_OR_TARBALL [VERSION]}
VERSION=${2:-1.5.1}
OUT=$PWD/build/runc-$VERSION
APT=$PWD/build/runc-apt
GOPKG=${GOPKG:-golang-1.26}

mkdir -p "$OUT" "$APT"/{lists/partial,archives/partial,debs,go,etc/preferences.d,gopath,gocache}

# --- Go from Debian unstable, private apt configuration ---------------------------------
if [ ! -x "$APT/go/usr/lib/go-${GOPKG#golang-}/bin/go" ]; then
    cat > "$APT/etc/sources.list" <<SRC_EOF
deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian unstable main
SRC_EOF
    touch "$APT/status"
    APTOPTS=(-o "Dir::Etc::SourceList=$APT/etc/sources.list" -o "Dir::Etc::SourceParts=-"
             -o "Dir::Etc::Preferences=-" -o "Dir::Etc::PreferencesParts=$APT/etc/preferences.d"
             -o "Dir::State=$APT" -o "Dir::State::Lists=$APT/lists" -o "Dir::State::status=$APT/status"
             -o "Dir::Cache=$APT" -o "Dir::Cache::archives=$APT/archives"
             -o "APT::Architecture=amd64" -o "Debug::NoLocking=1")
    apt-get "${APTOPTS[@]}" update
    (cd "$APT/debs" && apt-get "${APTOPTS[@]}" download "$GOPKG-go" "$GOPKG-src")
    for d in "$APT"/debs/*.deb; do dpkg-deb -x "$d" "$APT/go"; done
fi
GOROOT=$(ls -d "$APT"/go/usr/lib/go-* | head -1)
export GOROOT PATH="$GOROOT/bin:$PATH" GOPATH="$APT/gopath" GOCACHE="$APT/gocache"
export GOTOOLCHAIN=local GOFLAGS=-mod=vendor GOPROXY=off
go version

# --- libseccomp-dev from the host's Debian 12 --------------------------------------------
dpkg -s libseccomp-dev >/dev/null 2>&1 || apt-get install -y libseccomp-dev pkg-config

# --- runc source -------------------------------------------------------------------------
TREE=$OUT/src
rm -rf "$TREE" && mkdir -p "$TREE"
if [ -d "$SRC" ]; then
    cp -a "$SRC"/. "$TREE"/
else
    tar -xf "$SRC" -C "$TREE" --strip-components=1
fi
make -C "$TREE" RUNC_BUILDTAGS=-libpathrs COMMIT=v$VERSION runc
cp "$TREE/runc" "$OUT/runc"
"$OUT/runc" --version
