#!/bin/sh
# 40-hub.sh - model ids through the Hugging Face cache and downloads from a local
# stand-in hub (tests/tools/hubserver.py on 127.0.0.1): cache lookups, offline mode,
# downloads with redirects and chunked bodies, resumption after a cut, the token,
# missing files, and the same through curl(1).
. "${SB_BUILDDIR:-.}/tests/setup"

COMMIT=0123456789abcdef0123456789abcdef01234567
SERVER_PIDS=
trap 'for p in $SERVER_PIDS; do kill "$p" 2>/dev/null; done; rm -rf "$SB_TMP"' EXIT

require_cmd sb-fetch
if [ ! -x "$PYTHON3" ]; then
	echo "Bail out! python3 ($PYTHON3) is needed for the test hub server"
	exit 1
fi

plan 63

# start_server NAME ARGS...: serves $SB_TMP/NAME.model as org/NAME; sets $port, $log.
start_server() {
	_name=$1; shift
	log=$SB_TMP/$_name.log
	: > "$log"
	"$PYTHON3" "$SB_SRCDIR/tests/tools/hubserver.py" --root "$SB_TMP/$_name.model" \
		--repo "org/$_name" --port-file "$SB_TMP/$_name.port" --log "$log" "$@" &
	SERVER_PIDS="$SERVER_PIDS $!"
	_i=0
	while [ ! -s "$SB_TMP/$_name.port" ] && [ $_i -lt 100 ]; do
		sleep 0.1
		_i=$((_i + 1))
	done
	port=$(cat "$SB_TMP/$_name.port" 2>/dev/null)
	[ -n "$port" ] || { echo "Bail out! the test hub server did not start"; exit 1; }
}

# make_model NAME [FILES]: a small model folder (random weights, 200 kB).
make_model() {
	_d=$SB_TMP/$1.model
	mkdir -p "$_d/1_Pooling"
	printf '{"model_type": "distilbert", "dim": 32}\n' > "$_d/config.json"
	printf '[PAD]\n[UNK]\n[CLS]\n[SEP]\nhello\n' > "$_d/vocab.txt"
	printf '{"do_lower_case": true}\n' > "$_d/tokenizer_config.json"
	printf '{"max_seq_length": 128}\n' > "$_d/sentence_bert_config.json"
	printf '{"pooling_mode_mean_tokens": true}\n' > "$_d/1_Pooling/config.json"
	head -c 200000 /dev/urandom > "$_d/model.safetensors"
}

# same_files DIR NAME: every file of the served model is in DIR, byte for byte.
same_files() {
	(cd "$SB_TMP/$2.model" && find . -type f) | while read -r f; do
		cmp -s "$SB_TMP/$2.model/$f" "$1/$f" || { echo "differs: $f"; exit 1; }
	done
}

count() { grep -c "$1" "$2"; }

# ---- usage ----
run sb-fetch -h
is "-h exits 0" "$rc" 0
like "-h prints usage" "$out" "^usage: sb-fetch"
run sb-fetch
is "no model: exit 2" "$rc" 2
run sb-fetch -a 0 x
is "bad -a: exit 2" "$rc" 2

# ---- local folders and cache lookups (no network) ----
make_model local
run env HF_HUB_OFFLINE=1 sb-fetch "$SB_TMP/local.model"
is "a local folder resolves to itself" "$out" "$SB_TMP/local.model"
run env HF_HUB_OFFLINE=1 HF_HUB_CACHE="$SB_TMP/none" sb-fetch ./no/such/folder
is "a missing path that is no hub id: exit 1" "$rc" 1
like "  and says so" "$err" "^sb-fetch: \./no/such/folder: no such model folder, and not a hub id"
run env HF_HUB_OFFLINE=1 HF_HUB_CACHE="$SB_TMP/none" sb-fetch org--bad
is "an id with '--': exit 1" "$rc" 1

# A cache built by hand, as huggingface_hub leaves it.
C=$SB_TMP/hf/hub/models--org--cached
mkdir -p "$C/refs" "$C/blobs" "$C/snapshots/$COMMIT"
printf '%s' "$COMMIT" > "$C/refs/main"
for f in config.json vocab.txt model.safetensors; do
	cp "$SB_TMP/local.model/$f" "$C/blobs/b-$f"
	ln -s "../../blobs/b-$f" "$C/snapshots/$COMMIT/$f"
done
run env -u HF_HUB_CACHE HF_HOME="$SB_TMP/hf" HF_ENDPOINT=http://127.0.0.1:9 sb-fetch org/cached
is "cached id via HF_HOME (no network touched)" "$out" "$C/snapshots/$COMMIT"
run env -u HF_HOME HF_HUB_CACHE="$SB_TMP/hf/hub" HF_HUB_OFFLINE=1 sb-fetch org/cached
is "cached id via HF_HUB_CACHE, offline" "$out" "$C/snapshots/$COMMIT"
mkdir -p "$SB_TMP/home/.cache/huggingface"
ln -s "$SB_TMP/hf/hub" "$SB_TMP/home/.cache/huggingface/hub"
run env -u HF_HOME -u HF_HUB_CACHE -u XDG_CACHE_HOME HOME="$SB_TMP/home" HF_HUB_OFFLINE=1 \
	sb-fetch org/cached
is "cached id via HOME/.cache/huggingface/hub" "$out" \
	"$SB_TMP/home/.cache/huggingface/hub/models--org--cached/snapshots/$COMMIT"
run env HF_HUB_CACHE="$SB_TMP/hf/hub" HF_HUB_OFFLINE=1 sb-fetch -r "$COMMIT" org/cached
is "a commit as revision needs no ref" "$out" "$C/snapshots/$COMMIT"
run env HF_HUB_CACHE="$SB_TMP/hf/hub" HF_HUB_OFFLINE=1 sb-fetch org/absent
is "offline and not cached: exit 1" "$rc" 1
like "  and the message names the cache and offline mode" "$err" \
	"org/absent: no such folder, and not in the Hugging Face cache .*/hf/hub \(from HF_HUB_CACHE\); HF_HUB_OFFLINE is set"
run env HF_HUB_CACHE="$SB_TMP/hf/hub" sb-fetch -o org/absent
is "-o is offline mode too" "$rc" 1

# The EXAMPLES of sb-fetch(1), against a cache holding that model (no network).
E=$SB_TMP/hf/hub/models--sentence-transformers--stsb-distilbert-base
mkdir -p "$E/refs" "$E/snapshots/$COMMIT"
printf '%s\n' "$COMMIT" > "$E/refs/main"
cp "$SB_TMP/local.model/config.json" "$SB_TMP/local.model/vocab.txt" \
	"$SB_TMP/local.model/model.safetensors" "$E/snapshots/$COMMIT/"
run env HF_HOME="$SB_TMP/hf" HF_ENDPOINT=http://127.0.0.1:9 \
	sb-fetch sentence-transformers/stsb-distilbert-base
is "sb-fetch(1) example 1" "$rc $out" "0 $E/snapshots/$COMMIT"
run env HF_HOME="$SB_TMP/hf" HF_HUB_OFFLINE=1 sb-fetch sentence-transformers/stsb-distilbert-base
is "sb-fetch(1) example 2" "$rc $out" "0 $E/snapshots/$COMMIT"

# ---- downloads through the built-in http client ----
make_model m1
start_server m1 --lfs model.safetensors --cut model.safetensors --chunked vocab.txt
EP=http://127.0.0.1:$port
run env HF_HUB_CACHE="$SB_TMP/c1" HF_ENDPOINT="$EP" HF_TOKEN= sb-fetch -p org/m1
S=$SB_TMP/c1/models--org--m1/snapshots/$COMMIT
is "download into an empty cache" "$rc $out" "0 $S"
check "  every file arrived intact (chunked, redirected, cut and resumed)" same_files "$S" m1
is "  refs/main holds the commit" "$(cat "$SB_TMP/c1/models--org--m1/refs/main")" "$COMMIT"
like "  snapshot files are relative links into blobs/" \
	"$(readlink "$S/1_Pooling/config.json")" "^\.\./\.\./\.\./blobs/[0-9a-f]{40}$"
like "  large files are named by X-Linked-Etag (sha256)" "$(readlink "$S/model.safetensors")" \
	"^\.\./\.\./blobs/$(sha256sum "$SB_TMP/m1.model/model.safetensors" | cut -c1-64)$"
is "  no .incomplete file is left" "$(ls "$SB_TMP/c1/models--org--m1/blobs" | grep -c incomplete)" 0
is "  the cut download was resumed with a range request" \
	"$(count '"range": "bytes=100000-"' "$log")" 1
is "  no token is sent when HF_TOKEN is empty" "$(count '"auth": null' "$log")" \
	"$(wc -l < "$log" | tr -d ' ')"
like "  --progress reports on stderr" "$err" "model.safetensors: 200000 of 200000 bytes"
n=$(wc -l < "$log")
run env HF_HUB_CACHE="$SB_TMP/c1" HF_ENDPOINT="$EP" sb-fetch org/m1
is "a second call is served from the cache" "$rc $out" "0 $S"
is "  without any request" "$(wc -l < "$log")" "$n"

# ---- resumption across runs ----
make_model m2
start_server m2 --cut model.safetensors
EP=http://127.0.0.1:$port
run env HF_HUB_CACHE="$SB_TMP/c2" HF_ENDPOINT="$EP" sb-fetch -a 1 org/m2
is "a cut with one attempt: exit 1" "$rc" 1
like "  says where the connection was cut" "$err" \
	"model.safetensors: connection closed after 100000 of 200000 bytes"
part=$(ls "$SB_TMP"/c2/models--org--m2/blobs/*.incomplete 2>/dev/null)
is "  the partial blob is kept" "$(wc -c < "$part" 2>/dev/null | tr -d ' ')" 100000
run env HF_HUB_CACHE="$SB_TMP/c2" HF_ENDPOINT="$EP" sb-fetch -a 1 org/m2
is "the next call completes" "$rc" 0
check "  with intact files" same_files "$out" m2
is "  resuming at byte 100000" "$(count '"range": "bytes=100000-"' "$log")" 1
is "  fetching config.json only once" \
	"$(count '"method": "GET", "path": "/org/m2/resolve/[a-z0-9]*/config.json"' "$log")" 1

# ---- token ----
make_model m3
start_server m3 --token s3cret --lfs model.safetensors
EP=http://127.0.0.1:$port
run env -u HF_TOKEN HF_HUB_CACHE="$SB_TMP/c3" HF_ENDPOINT="$EP" sb-fetch org/m3
is "a private model without HF_TOKEN: exit 1" "$rc" 1
like "  says access was denied and names HF_TOKEN" "$err" \
	"org/m3: .*; from the hub: config.json: access denied by http://127.0.0.1:[0-9]+ \(http 401\); .*HF_TOKEN"
run env HF_TOKEN=s3cret HF_HUB_CACHE="$SB_TMP/c3" HF_ENDPOINT="$EP" sb-fetch org/m3
is "with HF_TOKEN it downloads" "$rc" 0
check "  intact" same_files "$out" m3
like "  the token is sent as a bearer token" "$(cat "$log")" '"auth": "Bearer s3cret"'

# ---- missing files ----
make_model m4
rm "$SB_TMP/m4.model/config.json"
start_server m4
run env HF_HUB_CACHE="$SB_TMP/c4" HF_ENDPOINT="http://127.0.0.1:$port/" sb-fetch org/m4
is "a required file missing on the hub: exit 1" "$rc" 1
like "  with a clear message" "$err" \
	"^sb-fetch: org/m4: .*; from the hub: config.json: not found on http://127.0.0.1:[0-9]+ \(http 404\)$"
make_model m5
rm "$SB_TMP/m5.model/model.safetensors"
start_server m5
run env HF_HUB_CACHE="$SB_TMP/c5" HF_ENDPOINT="http://127.0.0.1:$port" sb-fetch org/m5
is "no weights at all: exit 1" "$rc" 1
like "  names pytorch_model.bin, the last resort" "$err" "org/m5: pytorch_model.bin: not found"
head -c 1000 /dev/urandom > "$SB_TMP/m5.model/pytorch_model.bin"
make_model m6
rm "$SB_TMP/m6.model/model.safetensors"
head -c 1000 /dev/urandom > "$SB_TMP/m6.model/pytorch_model.bin"
start_server m6 --no-commit
run env HF_HUB_CACHE="$SB_TMP/c6" HF_ENDPOINT="http://127.0.0.1:$port" sb-fetch org/m6
is "pytorch_model.bin when there is no safetensors; no X-Repo-Commit: snapshot 'main'" \
	"$rc $out" "0 $SB_TMP/c6/models--org--m6/snapshots/main"
check "  intact" same_files "$out" m6

# ---- module folders named by modules.json (Dense as LaBSE has it, LayerNorm) ----
make_model m10
_d=$SB_TMP/m10.model
printf '%s\n' '[{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},' \
	'{"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},' \
	'{"idx": 2, "name": "2", "path": "2_Dense", "type": "sentence_transformers.models.Dense"},' \
	'{"idx": 3, "name": "3", "path": "3_LayerNorm", "type": "sentence_transformers.models.LayerNorm"},' \
	'{"idx": 4, "name": "4", "path": "4_Normalize", "type": "sentence_transformers.models.Normalize"}]' \
	> "$_d/modules.json"
mkdir -p "$_d/2_Dense" "$_d/3_LayerNorm"
printf '{"in_features": 32, "out_features": 16, "bias": true}\n' > "$_d/2_Dense/config.json"
head -c 3000 /dev/urandom > "$_d/2_Dense/pytorch_model.bin"
printf '{"dimension": 16}\n' > "$_d/3_LayerNorm/config.json"
head -c 300 /dev/urandom > "$_d/3_LayerNorm/model.safetensors"
start_server m10 --lfs 2_Dense/pytorch_model.bin
EP=http://127.0.0.1:$port
S=$SB_TMP/c11/models--org--m10/snapshots/$COMMIT
run env HF_HUB_CACHE="$SB_TMP/c11" HF_ENDPOINT="$EP" sb-fetch org/m10
is "a model with Dense and LayerNorm modules downloads" "$rc $out" "0 $S"
check "  with the module folders (2_Dense/pytorch_model.bin, 3_LayerNorm/model.safetensors)" \
	same_files "$S" m10
# A snapshot an older download left without the module folders is not complete.
rm -r "$S/2_Dense" "$S/3_LayerNorm"
run env HF_HUB_CACHE="$SB_TMP/c11" HF_ENDPOINT="$EP" sb-fetch org/m10
is "a snapshot missing a module's files is completed" "$rc $out" "0 $S"
check "  intact" same_files "$S" m10
is "  without fetching the transformer's weights again" \
	"$(count '"method": "GET", "path": "/org/m10/resolve/[a-z0-9]*/model.safetensors"' "$log")" 1

# ---- curl(1): https, and http with --curl ----
run env PATH=/nonexistent HF_HUB_CACHE="$SB_TMP/c7" HF_ENDPOINT=https://127.0.0.1:9 \
	"$SB_BUILDDIR/cmd/sb-fetch" org/m7
like "https without curl says what to do" "$err" \
	"https download needs curl\(1\); install it or use HF_ENDPOINT=http://"
require_cmd curl
make_model m7
start_server m7 --token t7 --lfs model.safetensors --cut model.safetensors --chunked vocab.txt
EP=http://127.0.0.1:$port
run env HF_TOKEN=t7 HF_HUB_CACHE="$SB_TMP/c7" HF_ENDPOINT="$EP" sb-fetch --curl org/m7
is "download through curl" "$rc $out" "0 $SB_TMP/c7/models--org--m7/snapshots/$COMMIT"
check "  intact, after a cut and a resume" same_files "$out" m7
is "  resumed with a range request" "$(count '"range": "bytes=100000-"' "$log")" 1
like "  the token went through curl's standard input" "$(cat "$log")" '"auth": "Bearer t7"'
make_model m9
FX=$SB_SRCDIR/tests/fixtures/hub
start_server m9 --tls-cert "$FX/localhost.crt" --tls-key "$FX/localhost.key" --token t9 \
	--lfs model.safetensors --cut model.safetensors
run env CURL_CA_BUNDLE="$FX/localhost.crt" HF_TOKEN=t9 HF_HUB_CACHE="$SB_TMP/c9" \
	HF_ENDPOINT="https://127.0.0.1:$port" sb-fetch org/m9
is "download over https (curl, TLS, redirect, cut, resume)" "$rc $out" \
	"0 $SB_TMP/c9/models--org--m9/snapshots/$COMMIT"
check "  intact" same_files "$out" m9
is "  resumed with a range request" "$(count '"range": "bytes=100000-"' "$log")" 1
run env -u CURL_CA_BUNDLE HF_TOKEN=t9 HF_HUB_CACHE="$SB_TMP/c10" \
	CURL_HOME="$SB_TMP" HF_ENDPOINT="https://127.0.0.1:$port" sb-fetch org/m9
is "an untrusted certificate: exit 1" "$rc" 1
like "  with curl's reason" "$err" "curl failed \(exit 60\)"
run env HF_HUB_CACHE="$SB_TMP/c8" HF_ENDPOINT=https://127.0.0.1:9 sb-fetch org/m8
is "an unreachable https endpoint: exit 1" "$rc" 1
like "  with curl's reason" "$err" "curl failed \(exit 7\)"

[ "$sb_failed" = 0 ]
