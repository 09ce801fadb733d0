#!/bin/bash
# latentrsa vit-init: a Hugging Face directory (config.json + F32 model.safetensors with
# {"format":"pt"}), the presets and a config.json, determinism, usage and data errors.
# (That transformers reads the output is checked by tools/gen_vit_fixtures.py --base and
# tests/unit/test_vit_base.c; that our loader reads it by tests/unit/test_vit.c.)
set -u
. "$(dirname "$0")/lib.sh" t4100
FIX=${LRSA_SRC:?}/tests/fixtures/vit

status() { # status WANT COMMAND...: the exit status is WANT; output in $T/out, $T/err
    local want=$1; shift
    "$@" >"$T/out" 2>"$T/err"
    local got=$?
    [ "$got" = "$want" ] || { echo "  exit $got, want $want: $*" >&2; sed 's/^/  /' "$T/err" >&2; return 1; }
}
header() { # the JSON header of a safetensors file
    local n
    n=$(od -An -t u8 -N 8 "$1" | tr -d ' ')
    dd if="$1" bs=1 skip=8 count="$n" 2>/dev/null
}

check "-h exits 0" status 0 "$BIN" vit-init -h
check "-h synopsis" grep -q '^usage: latentrsa vit-init \[--config base|tiny|FILE.json\] \[--seed S\] -o DIR' "$T/out"

# --- tiny preset: ViT-Ti/16, 5,561,472 parameters ---------------------------------------------
check "tiny" status 0 "$BIN" vit-init --config tiny --seed 3 -o "$T/tiny"
check "note names the directory" grep -q "5561472 parameters) with seed 3 to '$T/tiny'" "$T/err"
check "config.json" test -s "$T/tiny/config.json"
check "model.safetensors" test -s "$T/tiny/model.safetensors"
for kv in '"hidden_size": 192' '"num_hidden_layers": 12' '"num_attention_heads": 3' \
    '"intermediate_size": 768' '"patch_size": 16' '"image_size": 224' '"hidden_act": "gelu"' \
    '"model_type": "vit"' '"layer_norm_eps": 1e-12' '"qkv_bias": true'; do
    check "config $kv" grep -qF "$kv" "$T/tiny/config.json"
done
header "$T/tiny/model.safetensors" >"$T/hdr"
check "metadata format pt first" grep -q '^{"__metadata__":{"format":"pt"},' "$T/hdr"
check "200 tensors" test "$(grep -o '"dtype":"F32"' "$T/hdr" | wc -l)" = 200
check "no vit. prefix" test -z "$(grep -o '"vit\.' "$T/hdr")"
check "cls token shape" grep -qF '"embeddings.cls_token":{"dtype":"F32","shape":[1,1,192]' "$T/hdr"
check "qkv weights" grep -qF '"encoder.layer.11.attention.attention.value.weight":{"dtype":"F32","shape":[192,192]' "$T/hdr"
hlen=$(od -An -t u8 -N 8 "$T/tiny/model.safetensors" | tr -d ' ')
check "size = 8 + header + 4 x params" test "$(stat -c %s "$T/tiny/model.safetensors")" = $((8 + hlen + 4 * 5561472))
check "no temporaries" test -z "$(find "$T/tiny" -name '*.tmp*')"

# --- determinism ------------------------------------------------------------------------------
check "same seed again" status 0 "$BIN" vit-init --config tiny --seed 3 -o "$T/tiny2" -q
check "same bytes" cmp -s "$T/tiny/model.safetensors" "$T/tiny2/model.safetensors"
check "same config" cmp -s "$T/tiny/config.json" "$T/tiny2/config.json"
check "quiet" test ! -s "$T/err"
check "other seed" status 0 "$BIN" vit-init --config tiny --seed 4 -o "$T/tiny4" -q
check "other bytes" bash -c "! cmp -s '$T/tiny/model.safetensors' '$T/tiny4/model.safetensors'"

# --- a config.json (the tiny fixture: hidden 32, 2 layers) -------------------------------------
check "config file" status 0 "$BIN" vit-init --config "$FIX/tiny_a/config.json" -o "$T/a" -q
check "config file hidden" grep -qF '"hidden_size": 32' "$T/a/config.json"
check "config file params" grep -qF '"encoder.layer.1.output.dense.weight":{"dtype":"F32","shape":[32,64]' \
    <(header "$T/a/model.safetensors")
header "$T/a/model.safetensors" >"$T/ahdr"
check "no layer 2" bash -c "! grep -q 'encoder.layer.2' '$T/ahdr'"

# --- errors -------------------------------------------------------------------------------------
check "missing -o" status 2 "$BIN" vit-init --config tiny
check "unknown preset" status 2 "$BIN" vit-init --config huge -o "$T/x"
check "unknown preset message" grep -q "base, tiny or an existing config.json" "$T/err"
check "negative seed" status 2 "$BIN" vit-init --seed -1 -o "$T/x"
check "stray argument" status 2 "$BIN" vit-init --config tiny -o "$T/x" extra
sed 's/"hidden_act": "gelu"/"hidden_act": "relu"/' "$FIX/tiny_a/config.json" >"$T/relu.json"
check "unsupported field exit 3" status 3 "$BIN" vit-init --config "$T/relu.json" -o "$T/relu"
check "unsupported field named" grep -q "hidden_act 'relu' is not supported" "$T/err"
check "nothing written" test ! -e "$T/relu"
printf '{"hidden_size": 30, "num_attention_heads": 4}' >"$T/div.json"
check "heads do not divide hidden" status 3 "$BIN" vit-init --config "$T/div.json" -o "$T/div"
check "divisibility named" grep -q "hidden_size 30 is not a multiple of num_attention_heads 4" "$T/err"
printf 'not json' >"$T/bad.json"
check "not json" status 3 "$BIN" vit-init --config "$T/bad.json" -o "$T/bad"
: >"$T/file"
check "output under a file" status 1 "$BIN" vit-init --config "$FIX/tiny_a/config.json" -o "$T/file/sub"
finish t4100-vit-init
