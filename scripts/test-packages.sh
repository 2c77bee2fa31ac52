#!/usr/bin/env bash
# The Debian packages the test suites need, from one list: `make test`, `make test-pi`,
# `make test-service`, `make test-ha` and .ci/run all ask this script, so a fresh machine and CI
# install the same.
#
#   bash scripts/test-packages.sh test|pi|service|ha|all
#
# As root, what is missing is installed with apt-get. Otherwise the apt line to run is printed and
# the exit status is 69, before a suite starts that would fail halfway for want of a broker.
# Where there is no dpkg (not Debian, Ubuntu or Raspberry Pi OS) the list is printed as a note.
set -euo pipefail

# mosquitto: the real broker of the MQTT tests; shellcheck: the install scripts' lint tests;
# ffmpeg: the video tests' encoder; chromium: the preview page's browser test.
test_packages=(mosquitto mosquitto-clients shellcheck ffmpeg chromium)
# The emulated Raspberry Pi OS (Bookworm arm64 under qemu).
pi_packages=(debootstrap qemu-user-static binfmt-support)
# The booted Debian of the systemd tests (systemd-nspawn).
service_packages=(systemd systemd-container debootstrap)
# The Home Assistant root (chroot) and the broker between it and the daemon.
ha_packages=(debootstrap mosquitto)

case "${1:-test}" in
test) wanted=("${test_packages[@]}") ;;
pi) wanted=("${pi_packages[@]}") ;;
service) wanted=("${service_packages[@]}") ;;
ha) wanted=("${ha_packages[@]}") ;;
all) wanted=("${test_packages[@]}" "${pi_packages[@]}" "${service_packages[@]}" "${ha_packages[@]}") ;;
*)
    echo "usage: $0 test|pi|service|ha|all" >&2
    exit 64
    ;;
esac

if ! command -v dpkg-query >/dev/null 2>&1; then
    echo "edgepose: note: no dpkg here; the tests need: ${wanted[*]}" >&2
    exit 0
fi
missing=()
for p in "${wanted[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
    printf 'edgepose: the tests need packages this machine lacks\n  -> sudo apt-get install --no-install-recommends %s\n' \
        "${missing[*]}" >&2
    exit 69
fi
echo "edgepose: installing ${missing[*]} (apt-get)" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# The tests start their own brokers on free ports; the packaged service is not needed.
if [[ " ${missing[*]} " == *" mosquitto "* ]]; then
    systemctl disable --now mosquitto >/dev/null 2>&1 || true
fi
