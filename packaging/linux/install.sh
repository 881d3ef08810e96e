#!/bin/sh
# Install samdesk's desktop integration for the current user (no root): the .desktop entry,
# the AppStream metainfo, the *.samdesk.json MIME type and the icon, under
# ${XDG_DATA_HOME:-~/.local/share}. samdesk itself must already be installed (pip/make run).
#
#   packaging/linux/install.sh              # find samdesk on PATH or in ./.venv
#   SAMDESK_BIN=/opt/x/bin/samdesk packaging/linux/install.sh
#   packaging/linux/install.sh --uninstall
set -eu

APP_ID=io.github.samdesk.Samdesk
HERE=$(CDPATH= cd -- "$(dirname -- "$0")" && pwd)
ROOT=$(dirname -- "$(dirname -- "$HERE")")
ICONS="$ROOT/resources/icons"
DATA=${XDG_DATA_HOME:-$HOME/.local/share}

refresh() {
    # Each cache is optional: without the tool the desktop rescans on next login instead.
    if command -v update-mime-database >/dev/null 2>&1; then update-mime-database "$DATA/mime"; fi
    if command -v update-desktop-database >/dev/null 2>&1; then
        update-desktop-database "$DATA/applications" || true
    fi
    if command -v gtk-update-icon-cache >/dev/null 2>&1 && [ -f "$DATA/icons/hicolor/index.theme" ]; then
        gtk-update-icon-cache -q -t -f "$DATA/icons/hicolor" || true
    fi
}

if [ "${1:-}" = "--uninstall" ]; then
    rm -f "$DATA/applications/$APP_ID.desktop" \
          "$DATA/metainfo/$APP_ID.metainfo.xml" \
          "$DATA/mime/packages/$APP_ID.xml" \
          "$DATA/icons/hicolor/256x256/apps/$APP_ID.png" \
          "$DATA/icons/hicolor/scalable/apps/$APP_ID.svg"
    if [ -d "$DATA/mime" ]; then refresh; fi
    echo "removed samdesk's desktop integration from $DATA"
    exit 0
fi

# The desktop session's PATH often lacks the user's venv or ~/.local/bin, so the entry gets the
# absolute path of the console script rather than the bare name.
BIN=${SAMDESK_BIN:-}
if [ -z "$BIN" ]; then BIN=$(command -v samdesk 2>/dev/null || true); fi
if [ -z "$BIN" ] && [ -x "$ROOT/.venv/bin/samdesk" ]; then BIN="$ROOT/.venv/bin/samdesk"; fi
if [ -z "$BIN" ] || [ ! -x "$BIN" ]; then
    echo "install.sh: no samdesk executable found (${BIN:-not on PATH, no $ROOT/.venv});" \
         "install samdesk first or set SAMDESK_BIN=/path/to/samdesk" >&2
    exit 1
fi
case "$BIN" in /*) ;; *) BIN="$(pwd)/$BIN" ;; esac
case "$BIN" in
    *'"'* | *'`'* | *'$'* | *'\'* | *'%'* | *'
'*) echo "install.sh: $BIN: the path has characters a .desktop Exec line cannot hold" >&2; exit 1 ;;
esac

mkdir -p "$DATA/applications" "$DATA/metainfo" "$DATA/mime/packages" \
         "$DATA/icons/hicolor/256x256/apps" "$DATA/icons/hicolor/scalable/apps"
# Exec quotes the path (spaces are legal in it); TryExec takes it unquoted.
# awk, not sed: the path goes in as data, never as a pattern or replacement string.
awk -v bin="$BIN" '
    /^Exec=samdesk( |$)/ { sub(/^Exec=samdesk/, ""); print "Exec=\"" bin "\"" $0; next }
    /^TryExec=samdesk$/  { print "TryExec=" bin; next }
    { print }
' "$HERE/$APP_ID.desktop" > "$DATA/applications/$APP_ID.desktop"
cp "$HERE/$APP_ID.metainfo.xml" "$DATA/metainfo/$APP_ID.metainfo.xml"
cp "$HERE/$APP_ID.mime.xml" "$DATA/mime/packages/$APP_ID.xml"
cp "$ICONS/samdesk-256.png" "$DATA/icons/hicolor/256x256/apps/$APP_ID.png"
cp "$ICONS/samdesk.svg" "$DATA/icons/hicolor/scalable/apps/$APP_ID.svg"
refresh
echo "installed samdesk's desktop integration into $DATA (Exec: $BIN)"
