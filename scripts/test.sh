#!/usr/bin/env bash
# Runs taskcenter's whole test suite on a fresh machine: installs what is missing (Blender, ffmpeg, a CJK
# font, Chromium and an RTSP server (GStreamer) from Debian, staticcheck through the Go module proxy), starts PostgreSQL when nothing listens on
# 127.0.0.1:5432, checks formatting and vet/staticcheck, then runs every test on both store drivers.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '==> %s\n' "$*"; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

missing=()
command -v blender >/dev/null 2>&1 || missing+=(blender)
command -v ffmpeg >/dev/null 2>&1 || missing+=(ffmpeg)
# Recording subtitles draw Chinese text; the console's tests drive a real browser.
[ -e /usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc ] || missing+=(fonts-noto-cjk)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
# The recorder's RTSP test serves its camera with GStreamer's RTSP server, run by Debian's python3.
[ -e /usr/lib/python3/dist-packages/gi/overrides/Gst.py ] || missing+=(python3-gst-1.0)
compgen -G '/usr/lib/*/girepository-1.0/GstRtspServer-1.0.typelib' >/dev/null || missing+=(gir1.2-gst-rtsp-server-1.0)
compgen -G '/usr/lib/*/gstreamer-1.0/libgstrtp.so' >/dev/null || missing+=(gstreamer1.0-plugins-good)
compgen -G '/usr/lib/*/gstreamer-1.0/libgstvoaacenc.so' >/dev/null || missing+=(gstreamer1.0-plugins-bad)
compgen -G '/usr/lib/*/gstreamer-1.0/libgstx264.so' >/dev/null || missing+=(gstreamer1.0-plugins-ugly)
if [ ${#missing[@]} -gt 0 ]; then
  log "installing ${missing[*]} from Debian"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

pg_up() { (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null; }
if ! pg_up; then
  log "starting PostgreSQL"
  if ! command -v pg_ctlcluster >/dev/null 2>&1; then
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq postgresql >/dev/null
  fi
  version=$(ls /etc/postgresql 2>/dev/null | sort -n | tail -n 1)
  as_root pg_ctlcluster --skip-systemctl-redirect "${version:-15}" main start
  for _ in $(seq 1 60); do pg_up && break; sleep 0.5; done
fi
export TASKCENTER_TEST_DATABASE_URL="${TASKCENTER_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}"
# Tests that need Blender, ffmpeg or PostgreSQL fail instead of skipping when CI is set.
export CI="${CI:-true}"

log "gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then echo "gofmt would change: $unformatted"; exit 1; fi

log "go vet"
go vet ./...

log "staticcheck"
if ! command -v staticcheck >/dev/null 2>&1 && [ ! -x "$(go env GOPATH)/bin/staticcheck" ]; then
  go install honnef.co/go/tools/cmd/staticcheck@v0.8.2
fi
PATH="$PATH:$(go env GOPATH)/bin" staticcheck ./...

log "go test"
go test -count=1 -timeout 30m ./...
