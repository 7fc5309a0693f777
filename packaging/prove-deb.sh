#!/usr/bin/env bash
# Proves the Debian package on a clean Debian 12: bootstraps a minbase bookworm root with
# mmdebstrap, installs the .deb there with apt (Depends only, no Recommends, so the declared
# dependencies alone must be enough), runs `qlora --help` and the studio's offscreen demo
# screenshots, then purges the package and checks that none of its files remain and that
# `apt-get autoremove` takes the system back to the packages it started with.
#
#   sudo packaging/prove-deb.sh [DEB] [OUT_DIR]
#
# DEB defaults to the newest build-package/qlora-studio_*.deb; the screenshots are copied to
# OUT_DIR (default build-package/prove-deb). MIRROR changes the Debian mirror, KEEP_ROOT=1
# keeps the bootstrapped root for inspection. Prints PASS or FAIL per check and exits non-zero
# when any check failed.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
[ "$(id -u)" -eq 0 ] || { echo "prove-deb: run as root (it bootstraps and chroots)" >&2; exit 2; }

# shellcheck disable=SC2012  # the newest by time; package file names are plain
deb=${1:-$(ls -t "$here"/build-package/qlora-studio_*.deb 2>/dev/null | head -n 1 || true)}
if [ -z "$deb" ] || [ ! -f "$deb" ]; then
  echo "prove-deb: no .deb given or found in build-package/" >&2; exit 2
fi
deb=$(cd "$(dirname "$deb")" && pwd)/$(basename "$deb")
out=${2:-$here/build-package/prove-deb}
mirror=${MIRROR:-http://deb.debian.org/debian}
security=${SECURITY_MIRROR:-http://deb.debian.org/debian-security}

if ! command -v mmdebstrap >/dev/null; then
  echo "prove-deb: installing mmdebstrap"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mmdebstrap >/dev/null
fi

work=$(mktemp -d /tmp/qls-prove-deb.XXXXXX)
root=$work/root
mounted=()

# Unmount before deleting: a recursive delete through a bind mount would reach the host's /dev.
cleanup() {
  local i
  for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do
    umount "${mounted[i]}" 2>/dev/null || umount -l "${mounted[i]}" || true
  done
  if findmnt -rn -o TARGET | grep -q "^$root"; then
    echo "prove-deb: mounts remain under $root; not deleting it" >&2
  elif [ "${KEEP_ROOT:-0}" = 1 ]; then
    echo "prove-deb: root kept at $root"
  else
    rm -rf "$work"
  fi
}
trap cleanup EXIT

results=()
failed=0
record() {  # record PASS|FAIL what
  results+=("$1  $2")
  echo "[$1] $2"
  [ "$1" = PASS ] || failed=1
}
in_root() { chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 \
              DEBIAN_FRONTEND=noninteractive "$@"; }
# shellcheck disable=SC2016  # dpkg-query's format, not the shell's
installed_set() { in_root dpkg-query -W -f='${db:Status-Abbrev} ${Package}\n' | awk '$1 == "ii" {print $2}' | sort; }

echo "== bootstrapping Debian 12 (bookworm, minbase) in $root"
mmdebstrap --quiet --mode=root --variant=minbase bookworm "$root" \
  "deb $mirror bookworm main" "deb $mirror bookworm-updates main" \
  "deb $security bookworm-security main"
for m in proc sys dev; do
  case $m in
    proc) mount -t proc proc "$root/proc" ;;
    sys) mount -t sysfs sys "$root/sys" ;;
    dev) mount --bind /dev "$root/dev" ;;
  esac
  mounted+=("$root/$m")
done
cp /etc/resolv.conf "$root/etc/resolv.conf"
in_root apt-get update -qq
installed_set > "$work/packages-before"
record PASS "clean bookworm root: $(wc -l < "$work/packages-before") packages"

echo "== installing $(basename "$deb")"
cp "$deb" "$root/tmp/"
if in_root apt-get install -y -q --no-install-recommends "/tmp/$(basename "$deb")" > "$work/install.log" 2>&1; then
  record PASS "apt-get install ./$(basename "$deb") ($(comm -13 "$work/packages-before" <(installed_set) | wc -l) packages added)"
else
  tail -n 30 "$work/install.log"
  record FAIL "apt-get install ./$(basename "$deb")"
  printf '%s\n' "${results[@]}"; echo "FAIL"; exit 1
fi
in_root dpkg -L qlora-studio | sort > "$work/files"
missing=()
for f in /usr/bin/qlora /usr/bin/qlora-studio /usr/share/applications/qlora-studio.desktop \
         /usr/share/icons/hicolor/scalable/apps/qlora-studio.svg \
         /usr/share/qlora-studio/resources/demo/model/model.safetensors \
         /usr/share/qlora-studio/resources/demo/data/pirate_fortunes_train.jsonl; do
  grep -qx "$f" "$work/files" && [ -e "$root$f" ] || missing+=("$f")
done
if [ ${#missing[@]} -eq 0 ]; then
  record PASS "package holds the programs, desktop entry, icon and demo ($(wc -l < "$work/files") paths)"
else
  record FAIL "package lacks ${missing[*]}"
fi

echo "== running the installed programs"
if in_root qlora --help > "$work/help.txt" 2>&1 && grep -q '^usage: qlora' "$work/help.txt"; then
  record PASS "qlora --help exits 0 and prints usage"
else
  cat "$work/help.txt"; record FAIL "qlora --help"
fi
# A fresh HOME; the source tree the binary was built from does not exist in the root, so the
# demo must come from /usr/share/qlora-studio.
home=$(in_root mktemp -d /tmp/home.XXXXXX)
rm -rf "$root/tmp/shots"
if in_root HOME="$home" QT_QPA_PLATFORM=offscreen \
      qlora-studio --demo --screenshot /tmp/shots > "$work/studio.log" 2>&1; then
  shots=$(find "$root/tmp/shots" -name '*.png' -size +1k 2>/dev/null | wc -l)
  if [ "$shots" -gt 0 ]; then
    record PASS "qlora-studio --demo --screenshot (offscreen) exits 0 and wrote $shots PNGs"
  else
    record FAIL "qlora-studio --demo --screenshot exited 0 but wrote no PNG"
  fi
else
  tail -n 30 "$work/studio.log"; record FAIL "qlora-studio --demo --screenshot (offscreen)"
fi
mkdir -p "$out"
cp "$root"/tmp/shots/*.png "$out/" 2>/dev/null || true
cp "$work/studio.log" "$out/studio.log"

echo "== purging"
if in_root apt-get purge -y -q qlora-studio > "$work/purge.log" 2>&1; then
  record PASS "apt-get purge -y qlora-studio"
else
  tail -n 30 "$work/purge.log"; record FAIL "apt-get purge -y qlora-studio"
fi
# Every path the package listed is gone, except directories another package still owns.
left=()
while read -r f; do
  [ "$f" = /. ] && continue
  if [ -e "$root$f" ] || [ -L "$root$f" ]; then
    if [ -d "$root$f" ] && in_root dpkg-query -S "$f" >/dev/null 2>&1; then continue; fi
    left+=("$f")
  fi
done < "$work/files"
if [ ${#left[@]} -eq 0 ] && [ ! -e "$root/usr/share/qlora-studio" ] \
   && [ ! -e "$root/usr/bin/qlora" ] && [ ! -e "$root/usr/bin/qlora-studio" ]; then
  record PASS "no file of the package remains ($(wc -l < "$work/files") paths checked; /usr/share/qlora-studio gone)"
else
  record FAIL "left after purge: ${left[*]:-/usr/share/qlora-studio or a program}"
fi
if in_root apt-get autoremove -y -q --purge > "$work/autoremove.log" 2>&1; then
  extra=$(comm -3 "$work/packages-before" <(installed_set) | tr -d '\t' | tr '\n' ' ')
  if [ -z "$extra" ]; then
    record PASS "apt-get autoremove: back to the $(wc -l < "$work/packages-before") packages of the clean root"
  else
    record FAIL "apt-get autoremove ran, but the package set differs from the clean root: $extra"
  fi
else
  tail -n 30 "$work/autoremove.log"; record FAIL "apt-get autoremove"
fi

echo
echo "== prove-deb summary for $(basename "$deb")"
printf '%s\n' "${results[@]}"
echo "screenshots: $out"
if [ "$failed" -eq 0 ]; then echo "PASS"; else echo "FAIL"; exit 1; fi
