#!/usr/bin/env bash
# Installs the Debian packages the factory needs when they are missing (as root, or with password-less sudo);
# otherwise says exactly what to install.
set -euo pipefail

missing=()
command -v ffmpeg >/dev/null && command -v ffprobe >/dev/null || missing+=(ffmpeg)
command -v espeak-ng >/dev/null || missing+=(espeak-ng)
[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf ] || missing+=(fonts-dejavu-core)
# every script users write is drawn: Arabic, Hebrew, Devanagari, Thai (Noto), CJK, emoji (Symbola, outlines libass draws)
[ -f /usr/share/fonts/truetype/noto/NotoSansArabic-Bold.ttf ] || missing+=(fonts-noto-core)
[ -f /usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc ] || missing+=(fonts-noto-cjk)
[ -f /usr/share/fonts/truetype/ancient-scripts/Symbola_hint.ttf ] || missing+=(fonts-symbola)
python3 -c 'import ensurepip, venv' 2>/dev/null || missing+=(python3-venv)
# the browser tests drive Debian's Chromium (Playwright cannot download its own browser here)
if [ "${1:-}" = "--test" ]; then command -v chromium >/dev/null || missing+=(chromium); fi
# the Celery tests and make demo-celery start a private Redis where none answers on 127.0.0.1:6379
case "${1:-}" in --test|--celery) command -v redis-server >/dev/null || missing+=(redis-server);; esac
[ ${#missing[@]} -eq 0 ] && exit 0

if ! command -v apt-get >/dev/null; then
    echo "Missing: ${missing[*]}. Install them with your system's package manager, then run make again." >&2
    exit 1
fi
if [ "$(id -u)" -eq 0 ]; then
    sudo=()
elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    sudo=(sudo -n)
else
    echo "Missing: ${missing[*]}. Install them with: sudo apt-get install ${missing[*]}" >&2
    exit 1
fi
echo "Installing ${missing[*]} with apt-get ..."
"${sudo[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
