#!/bin/sh
# CityHall installer for gateways (POSIX sh):
#
#   curl -fsSL <base-url>/install.sh | sudo sh -s -- --leader
#   curl -fsSL <base-url>/install.sh | sudo sh -s -- --replica 10.0.0.5:7879 --secret-file /root/cityhall.secret
#
# Picks the binary for this machine (x86_64, x86_64 without AVX2, aarch64), downloads it
# from CITYHALL_BASE_URL, verifies its SHA-256, installs it to <prefix>/bin/cityhall,
# creates the `cityhall` system user and /var/lib/cityhall, and installs and starts the
# systemd unit for the role asked for. Running it twice changes nothing the second time.
#
# Options:
#   --leader | --replica HOST:PORT   set up the service for this role (default: binary only)
#   --secret-file FILE               replication shared secret (copied to /etc/cityhall/secret)
#   --prefix DIR                     install under DIR (default /usr/local)
#   --no-start                       install and enable the unit but do not start it
#   --dry-run                        print what would be done, change nothing
#   --uninstall [--purge]            remove the binary and units; --purge also the data
# Environment:
#   CITYHALL_BASE_URL   where releases live: <url>/latest, <url>/<version>/SHA256SUMS, ...
#   CITYHALL_VERSION    version to install (default: the one <url>/latest names)
#   DESTDIR             install into this root instead of / (no user, no systemd calls)
set -eu

BASE_URL=${CITYHALL_BASE_URL:-https://releases.cityhall.invalid}
VERSION=${CITYHALL_VERSION:-}
DESTDIR=${DESTDIR:-}
PREFIX=/usr/local
ROLE=
LEADER=
SECRET_FILE=
DRY_RUN=0
UNINSTALL=0
PURGE=0
START=1
DATA_DIR=/var/lib/cityhall

say() { printf 'cityhall-install: %s\n' "$*" >&2; }
die() {
  say "error: $*"
  exit 1
}
# Runs a command, or prints it under --dry-run.
run() {
  if [ "$DRY_RUN" = 1 ]; then
    printf 'would run: %s\n' "$*"
  else
    "$@"
  fi
}

while [ $# -gt 0 ]; do
  case "$1" in
    --leader) ROLE=leader ;;
    --replica)
      [ $# -ge 2 ] || die "--replica needs the leader's replication address, e.g. --replica 10.0.0.5:7879"
      ROLE=replica
      LEADER=$2
      shift
      ;;
    --secret-file)
      [ $# -ge 2 ] || die "--secret-file needs a file"
      SECRET_FILE=$2
      shift
      ;;
    --prefix)
      [ $# -ge 2 ] || die "--prefix needs a directory"
      PREFIX=$2
      shift
      ;;
    --no-start) START=0 ;;
    --dry-run) DRY_RUN=1 ;;
    --uninstall) UNINSTALL=1 ;;
    --purge) PURGE=1 ;;
    -h | --help)
      sed -n '2,30p' "$0" 2>/dev/null | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    *) die "unknown option $1 (see --help)" ;;
  esac
  shift
done

case "$LEADER" in
  "" | *:*) ;;
  *) die "--replica $LEADER: give host:port, e.g. $LEADER:7879" ;;
esac

BIN="$DESTDIR$PREFIX/bin/cityhall"
UNIT_DIR="$DESTDIR/etc/systemd/system"
DEFAULTS="$DESTDIR/etc/default/cityhall"
HAVE_SYSTEMD=0
if [ -z "$DESTDIR" ] && [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then HAVE_SYSTEMD=1; fi

if [ -z "$DESTDIR" ] && [ "$DRY_RUN" = 0 ] && [ "$(id -u)" != 0 ]; then
  die "run as root (e.g. curl ... | sudo sh -s -- --leader), or set DESTDIR to install into a directory"
fi

# ------------------------------------------------------------------ uninstall
if [ "$UNINSTALL" = 1 ]; then
  for unit in cityhall-leader.service cityhall-replica.service; do
    if [ -f "$UNIT_DIR/$unit" ]; then
      if [ "$HAVE_SYSTEMD" = 1 ]; then run systemctl disable --now "$unit" || true; fi
      run rm -f "$UNIT_DIR/$unit"
    fi
  done
  if [ "$HAVE_SYSTEMD" = 1 ]; then run systemctl daemon-reload; fi
  [ -f "$BIN" ] && run rm -f "$BIN"
  if [ "$PURGE" = 1 ]; then
    run rm -rf "$DESTDIR$DATA_DIR" "$DESTDIR/etc/cityhall" "$DEFAULTS"
    if [ -z "$DESTDIR" ] && id cityhall >/dev/null 2>&1; then run userdel cityhall || true; fi
    say "removed CityHall and its data"
  else
    say "removed CityHall; the data in $DESTDIR$DATA_DIR is kept (use --purge to delete it)"
  fi
  exit 0
fi

# ------------------------------------------------------------------ which binary
ARCH=${CITYHALL_ARCH:-$(uname -m)}
case "$ARCH" in
  x86_64 | amd64)
    FLAGS=${CITYHALL_CPU_FLAGS:-$(grep -m1 '^flags' /proc/cpuinfo 2>/dev/null || true)}
    case " $FLAGS " in
      *" avx2 "*) TARGET=linux-x64 ;;
      *) TARGET=linux-x64-baseline ;;
    esac
    ;;
  aarch64 | arm64) TARGET=linux-arm64 ;;
  armv6l | armv7l | armv8l | armhf | arm | i386 | i486 | i586 | i686)
    die "$ARCH is a 32-bit system, and CityHall needs a 64-bit one: it runs on Bun, which is built for 64-bit CPUs only. On a Raspberry Pi 3, 4 or 5, install the 64-bit (arm64) Raspberry Pi OS."
    ;;
  *) die "no CityHall build for $ARCH; builds exist for x86_64 and aarch64 Linux" ;;
esac
[ "$(uname -s)" = Linux ] || die "CityHall's installer is for Linux; this is $(uname -s)"

# ------------------------------------------------------------------ download and verify
if command -v curl >/dev/null 2>&1; then
  fetch() { curl -fsSL --retry 3 -o "$2" "$1"; }
elif command -v wget >/dev/null 2>&1; then
  fetch() { wget -q -O "$2" "$1"; }
else
  die "neither curl nor wget is installed"
fi
if command -v sha256sum >/dev/null 2>&1; then
  sha256() { sha256sum "$1" | cut -d' ' -f1; }
else
  sha256() { openssl dgst -sha256 "$1" | sed 's/.*= //'; }
fi

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT INT TERM

if [ -z "$VERSION" ]; then
  fetch "$BASE_URL/latest" "$TMP/latest" || die "cannot read $BASE_URL/latest; check CITYHALL_BASE_URL or set CITYHALL_VERSION"
  VERSION=$(tr -d ' \r\n' <"$TMP/latest")
fi
case "$VERSION" in
  "" | *[!0-9A-Za-z.+-]*) die "bad version '$VERSION'" ;;
esac
fetch "$BASE_URL/$VERSION/SHA256SUMS" "$TMP/SHA256SUMS" || die "cannot download $BASE_URL/$VERSION/SHA256SUMS (is $VERSION released?)"

sum_of() { awk -v f="$1" '$2 == f { print $1 }' "$TMP/SHA256SUMS"; }
WANT_BIN=$(sum_of "cityhall-$TARGET")
[ -n "$WANT_BIN" ] || die "release $VERSION has no cityhall-$TARGET"

if [ -f "$BIN" ] && [ "$(sha256 "$BIN")" = "$WANT_BIN" ]; then
  say "cityhall $VERSION ($TARGET) is already installed at $BIN"
else
  if [ -n "$(sum_of "cityhall-$TARGET.xz")" ] && command -v xz >/dev/null 2>&1; then
    FILE=cityhall-$TARGET.xz
    UNPACK="xz -dc"
  else
    FILE=cityhall-$TARGET.gz
    UNPACK="gzip -dc"
  fi
  WANT=$(sum_of "$FILE")
  [ -n "$WANT" ] || die "release $VERSION has no $FILE"
  if [ "$DRY_RUN" = 1 ]; then
    printf 'would download: %s\n' "$BASE_URL/$VERSION/$FILE"
    printf 'would install: %s (%s)\n' "$BIN" "$TARGET"
  else
    say "downloading $BASE_URL/$VERSION/$FILE"
    fetch "$BASE_URL/$VERSION/$FILE" "$TMP/$FILE" || die "cannot download $BASE_URL/$VERSION/$FILE"
    GOT=$(sha256 "$TMP/$FILE")
    [ "$GOT" = "$WANT" ] || die "checksum mismatch for $FILE: expected $WANT, got $GOT. The download is damaged or tampered with; nothing was installed."
    $UNPACK "$TMP/$FILE" >"$TMP/cityhall" || die "cannot unpack $FILE"
    GOT=$(sha256 "$TMP/cityhall")
    [ "$GOT" = "$WANT_BIN" ] || die "checksum mismatch for the unpacked binary: expected $WANT_BIN, got $GOT; nothing was installed"
    chmod 0755 "$TMP/cityhall"
    mkdir -p "$(dirname "$BIN")"
    # Replace atomically, so a running service keeps its old binary until it restarts.
    cp "$TMP/cityhall" "$BIN.new"
    mv -f "$BIN.new" "$BIN"
    say "installed cityhall $VERSION ($TARGET) at $BIN"
  fi
fi

# ------------------------------------------------------------------ user, data, service
if [ -z "$ROLE" ]; then
  say "no role given (--leader or --replica HOST:PORT): binary only"
  exit 0
fi

if [ -z "$DESTDIR" ]; then
  if ! id cityhall >/dev/null 2>&1; then
    if command -v useradd >/dev/null 2>&1; then
      run useradd --system --home-dir "$DATA_DIR" --no-create-home --shell /usr/sbin/nologin cityhall
    else
      run adduser -S -H -h "$DATA_DIR" -s /sbin/nologin cityhall
    fi
  fi
fi
if [ ! -d "$DESTDIR$DATA_DIR" ]; then run mkdir -p "$DESTDIR$DATA_DIR"; fi
if [ -z "$DESTDIR" ]; then run chown cityhall: "$DESTDIR$DATA_DIR"; fi
run chmod 0750 "$DESTDIR$DATA_DIR"

OPTS=
if [ -n "$SECRET_FILE" ]; then
  [ -r "$SECRET_FILE" ] || die "cannot read --secret-file $SECRET_FILE"
  run mkdir -p "$DESTDIR/etc/cityhall"
  if ! cmp -s "$SECRET_FILE" "$DESTDIR/etc/cityhall/secret" 2>/dev/null; then run cp "$SECRET_FILE" "$DESTDIR/etc/cityhall/secret"; fi
  run chmod 0640 "$DESTDIR/etc/cityhall/secret"
  if [ -z "$DESTDIR" ]; then run chgrp cityhall "$DESTDIR/etc/cityhall/secret"; fi
  OPTS="--secret-file /etc/cityhall/secret"
fi

UNIT=cityhall-$ROLE.service
# The units come from the same release, checksummed like the binary.
fetch "$BASE_URL/$VERSION/$UNIT" "$TMP/$UNIT" || die "cannot download $BASE_URL/$VERSION/$UNIT"
WANT=$(sum_of "$UNIT")
[ -n "$WANT" ] && [ "$(sha256 "$TMP/$UNIT")" = "$WANT" ] || die "checksum mismatch for $UNIT; nothing changed"
sed "s#@BINDIR@#$PREFIX/bin#g" "$TMP/$UNIT" >"$TMP/$UNIT.final"

{
  echo "# Written by install.sh; options for the CityHall services (see: cityhall $ROLE --help)."
  if [ "$ROLE" = leader ]; then
    echo "CITYHALL_LEADER_OPTS=$OPTS"
  else
    echo "CITYHALL_LEADER=$LEADER"
    echo "CITYHALL_REPLICA_OPTS=$OPTS"
  fi
} >"$TMP/defaults"

CHANGED=0
if ! cmp -s "$TMP/$UNIT.final" "$UNIT_DIR/$UNIT" 2>/dev/null; then
  run mkdir -p "$UNIT_DIR"
  run cp "$TMP/$UNIT.final" "$UNIT_DIR/$UNIT"
  CHANGED=1
fi
if ! cmp -s "$TMP/defaults" "$DEFAULTS" 2>/dev/null; then
  run mkdir -p "$(dirname "$DEFAULTS")"
  run cp "$TMP/defaults" "$DEFAULTS"
  CHANGED=1
fi

if [ -n "$DESTDIR" ]; then
  say "installed $UNIT into $UNIT_DIR (DESTDIR: systemd not touched)"
  exit 0
fi
if [ "$HAVE_SYSTEMD" = 0 ]; then
  die "systemd is not running here, so $UNIT cannot be started; run it yourself: $PREFIX/bin/cityhall $ROLE ${LEADER:+--leader $LEADER }--data-dir $DATA_DIR"
fi
if [ "$CHANGED" = 1 ]; then run systemctl daemon-reload; fi
run systemctl enable "$UNIT"
if [ "$START" = 1 ]; then
  if [ "$CHANGED" = 1 ]; then run systemctl restart "$UNIT"; else run systemctl start "$UNIT"; fi
fi
say "done: $UNIT; status: systemctl status $UNIT; logs: journalctl -u $UNIT"
