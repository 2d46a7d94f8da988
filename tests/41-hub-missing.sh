#!/bin/sh
# 41-hub-missing.sh - a model that is neither a folder nor in the Hugging Face cache
# (issue #18, item 10: `-m nope`, a typo).  The message says so first ("no such
# folder, and not in the Hugging Face cache DIR"), then what the hub said, or nothing
# more in offline mode; and the cache is left as it was: no models--nope folder, no
# empty blobs/, not even the cache folder itself, until a download succeeds.  The hub
# is tests/tools/hubserver.py on 127.0.0.1; HF_HOME is under $SB_TMP.
. "${SB_BUILDDIR:-.}/tests/setup"

SERVER_PIDS=
trap 'for p in $SERVER_PIDS; do kill "$p" 2>/dev/null; done; rm -rf "$SB_TMP"' EXIT

require_cmd sb-fetch
if [ ! -x "$PYTHON3" ]; then
	echo "Bail out! python3 ($PYTHON3) is needed for the test hub server"
	exit 1
fi

plan 29

# A small model, served as org/m.
D=$SB_TMP/m.model
mkdir -p "$D"
printf '{"model_type": "distilbert", "dim": 32}\n' > "$D/config.json"
printf '[PAD]\n[UNK]\n[CLS]\n[SEP]\nhello\n' > "$D/vocab.txt"
head -c 20000 /dev/urandom > "$D/model.safetensors"
log=$SB_TMP/hub.log
"$PYTHON3" "$SB_SRCDIR/tests/tools/hubserver.py" --root "$D" --repo org/m \
	--port-file "$SB_TMP/port" --log "$log" &
SERVER_PIDS=$!
i=0
while [ ! -s "$SB_TMP/port" ] && [ $i -lt 100 ]; do
	sleep 0.1
	i=$((i + 1))
done
port=$(cat "$SB_TMP/port" 2>/dev/null)
[ -n "$port" ] || { echo "Bail out! the test hub server did not start"; exit 1; }
EP=http://127.0.0.1:$port
H=$SB_TMP/hf            # HF_HOME: does not exist before the runs below
NOT_CACHED="no such folder, and not in the Hugging Face cache $H/hub \(from HF_HOME\)"

# left DESC: nothing was created under $H (nor $H itself); fresh: start without $H.
fresh() { rm -rf "$H"; }
left() {
	is "$1: nothing left in the cache" "$(find "$H" 2>/dev/null | head -n 5 | tr '\n' ' ')" ""
}

# The issue's case: a name without a slash (a valid hub id: legacy models such as
# bert-base-uncased have no organisation) that is not on the hub.
fresh
run env -u HF_HUB_CACHE HF_HOME="$H" HF_ENDPOINT="$EP" sb-encode -m nope
is "sb-encode -m nope: exit 1" "$rc" 1
like "  not a folder, not cached, then what the hub said" "$err" \
	"^sb-encode: nope: $NOT_CACHED; from the hub: config\.json: not found on $EP \(http 404\)$"
is "  one line" "$(printf '%s\n' "$err" | grep -c .)" 1
left "sb-encode -m nope"
is "  the hub was asked once (HEAD config.json)" "$(grep -c '"path": "/nope/resolve/main/config.json"' "$log")" 1

for id in nope org/nope org/m-typo; do
	fresh
	run env -u HF_HUB_CACHE HF_HOME="$H" HF_ENDPOINT="$EP" sb-fetch "$id"
	like "sb-fetch $id: exit 1, not cached, then the 404" "$rc:$err" \
		"^1:sb-fetch: $id: $NOT_CACHED; from the hub: config\.json: not found on $EP \(http 404\)$"
	left "sb-fetch $id"
done

# Offline: only the first part, and no request.
n=$(wc -l < "$log")
fresh
run env -u HF_HUB_CACHE HF_HOME="$H" HF_ENDPOINT="$EP" HF_HUB_OFFLINE=1 sb-tokenize -m nope
like "HF_HUB_OFFLINE=1: exit 1, the first part only" "$rc:$err" \
	"^1:sb-tokenize: nope: $NOT_CACHED; HF_HUB_OFFLINE is set$"
left "offline"
is "  no request" "$(wc -l < "$log")" "$n"
fresh
run env -u HF_HUB_CACHE HF_HOME="$H" HF_ENDPOINT="$EP" sb-fetch -o org/nope
like "sb-fetch -o: the same" "$rc:$err" "^1:sb-fetch: org/nope: $NOT_CACHED; HF_HUB_OFFLINE is set$"
left "sb-fetch -o"

# No hub answering: a port of this host that refuses (bound once, then closed).
dead=$("$PYTHON3" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
fresh
run env -u HF_HUB_CACHE HF_HOME="$H" HF_ENDPOINT="http://127.0.0.1:$dead" sb-pool -m nope
like "no hub answering: not cached, then the connection error" "$rc:$err" \
	"^1:sb-pool: nope: $NOT_CACHED; from the hub: config\.json: .*127\.0\.0\.1.*$dead.*refused"
left "no hub answering"

# Other cache variables are named as the source of the folder.
run env -u HF_HOME HF_HUB_CACHE="$SB_TMP/c2" HF_ENDPOINT="$EP" HF_HUB_OFFLINE=1 sb-fetch nope
like "HF_HUB_CACHE named" "$err" "nope: no such folder, and not in the Hugging Face cache $SB_TMP/c2 \(from HF_HUB_CACHE\)"
check "  and not created" test ! -e "$SB_TMP/c2"
run env -u HF_HOME -u HF_HUB_CACHE -u XDG_CACHE_HOME HOME="$SB_TMP/home" HF_HUB_OFFLINE=1 sb-fetch nope
like "the default under HOME named" "$err" \
	"not in the Hugging Face cache $SB_TMP/home/\.cache/huggingface/hub \(from HOME\)"
check "  and not created" test ! -e "$SB_TMP/home"

# A cache that exists keeps what it had, and gains nothing.
fresh
mkdir -p "$H/hub/models--org--other/blobs"
: > "$H/hub/models--org--other/blobs/keep"
( cd "$H" && find . | sort ) > "$SB_TMP/before"
run env -u HF_HUB_CACHE HF_HOME="$H" HF_ENDPOINT="$EP" sb-fetch org/absent
is "an existing cache (another model in it): exit 1" "$rc" 1
is "  the cache is as it was" "$( cd "$H" && find . | sort | diff - "$SB_TMP/before")" ""

# A hub that answers HEAD but fails the download itself (http 500 before any byte):
# the folders made for it and the empty part file are removed again.
cat > "$SB_TMP/half.py" <<'EOF'
import http.server, os, sys
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *args):
        pass
    def do_HEAD(self):
        self.send_response(200)
        self.send_header("X-Repo-Commit", "0123456789abcdef0123456789abcdef01234567")
        self.send_header("ETag", '"e0e0e0"')
        self.send_header("Content-Length", "10")
        self.end_headers()
    def do_GET(self):
        body = b"broken\n"
        self.send_response(500)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
srv = http.server.HTTPServer(("127.0.0.1", 0), H)
with open(sys.argv[1] + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
os.replace(sys.argv[1] + ".tmp", sys.argv[1])
srv.serve_forever()
EOF
"$PYTHON3" "$SB_TMP/half.py" "$SB_TMP/half.port" &
SERVER_PIDS="$SERVER_PIDS $!"
i=0
while [ ! -s "$SB_TMP/half.port" ] && [ $i -lt 100 ]; do
	sleep 0.1
	i=$((i + 1))
done
[ -s "$SB_TMP/half.port" ] || { echo "Bail out! the failing test server did not start"; exit 1; }
fresh
run env -u HF_HUB_CACHE HF_HOME="$H" HF_ENDPOINT="http://127.0.0.1:$(cat "$SB_TMP/half.port")" \
	sb-fetch -a 1 org/half
like "HEAD answered (the model is on the hub), download failed: exit 1, the http 500" \
	"$rc:$err" "^1:sb-fetch: org/half: config\.json: http status 500"
left "a download that failed before its first byte"

# What is on the hub still downloads: the folders appear with the first file.
run env -u HF_HUB_CACHE HF_HOME="$H" HF_ENDPOINT="$EP" sb-fetch org/m
S=$H/hub/models--org--m/snapshots/0123456789abcdef0123456789abcdef01234567
is "org/m on the hub: downloaded" "$rc $out" "0 $S"
check "  its files are there" cmp -s "$D/model.safetensors" "$S/model.safetensors"
run env -u HF_HUB_CACHE HF_HOME="$H" HF_ENDPOINT="$EP" HF_HUB_OFFLINE=1 sb-fetch org/m
is "  and found in the cache offline" "$rc $out" "0 $S"
