#!/bin/sh
# The SDK job (issue 10): install Strata from build/ to a temporary prefix,
# move the prefix (the install must be relocatable), then, as a third party
# would, against that install only:
#   - build both templates (sdk/templates/) out of tree with find_package,
#     run their CMocka tests;
#   - install the swish plugin next to the bundled ones, and the example
#     backend elsewhere with one manifest in a user manifest directory;
#   - strata info lists both (STRATA_DEBUG=loader shows the manifest read);
#   - strata check passes for the example backend, and for the swish op on
#     every backend with a device;
#   - a model spec using the swish layer trains a few steps on every backend
#     with a device;
#   - the installed strata.pc compiles and links an application.
#   tools/sdk-check.sh [BUILD_DIR]      (default: build)
set -eu
cd "$(dirname "$0")/.."
src=$(pwd)
build=$(cd "${1:-build}" && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/strata-sdk.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
log() { printf 'sdk-check: %s\n' "$*"; }
fail() { printf 'sdk-check: FAILED: %s\n' "$*" >&2; exit 1; }
jobs=$(nproc 2>/dev/null || echo 2)

log "installing $build to a temporary prefix"
cmake --install "$build" --prefix "$tmp/stage" >"$tmp/install.log" || { cat "$tmp/install.log"; fail "cmake --install"; }
mv "$tmp/stage" "$tmp/strata"            # relocated: nothing may point at the old path
prefix=$tmp/strata
strata=$prefix/bin/strata
[ -x "$strata" ] || fail "no bin/strata in the install"
for f in include/strata/strata.h include/strata/strata_plugin.h include/strata/strata_backend.h include/strata/strata_half.h \
         lib/cmake/Strata/StrataConfig.cmake lib/cmake/Strata/StrataConfigVersion.cmake lib/pkgconfig/strata.pc \
         lib/strata/ref.so; do
    [ -e "$prefix/$f" ] || fail "missing $f in the install"
done
soname=$(readelf -d "$prefix/lib/libstrata.so" | sed -n 's/.*SONAME.*\[\(.*\)\].*/\1/p')
major=$(sed -n 's/^#define STRATA_ABI_MAJOR \([0-9]*\).*/\1/p' "$prefix/include/strata/strata_types.h")
[ "$soname" = "libstrata.so.$major" ] || fail "SONAME '$soname', expected libstrata.so.$major"
"$strata" info > "$tmp/info0.txt" 2>&1 || { cat "$tmp/info0.txt"; fail "strata info (relocated install)"; }
grep -q "$prefix/lib/strata/ref.so" "$tmp/info0.txt" || fail "the relocated runtime did not find lib/strata/ref.so"
log "relocated install works: $soname, plugins from $prefix/lib/strata"

# The templates are copied out of the source tree: they must build alone.
cp -R "$src/sdk/templates" "$tmp/templates"
build_template() { # NAME [cmake args]
    name=$1
    shift
    log "building the $name template against the install"
    cmake -S "$tmp/templates/$name" -B "$tmp/build-$name" -DCMAKE_PREFIX_PATH="$prefix" \
        -DCMAKE_BUILD_TYPE=Release "$@" >"$tmp/$name.log" 2>&1 &&
        cmake --build "$tmp/build-$name" -j"$jobs" >>"$tmp/$name.log" 2>&1 ||
        { cat "$tmp/$name.log"; fail "building the $name template"; }
    (cd "$tmp/build-$name" && ctest --output-on-failure) || fail "the $name template's tests"
    cmake --install "$tmp/build-$name" >>"$tmp/$name.log" 2>&1 || { cat "$tmp/$name.log"; fail "installing $name"; }
}
mkdir -p "$tmp/config/strata/plugins.d" "$tmp/no-system-manifests"
build_template layer-plugin
build_template backend -DCMAKE_INSTALL_PREFIX="$tmp/vendor" -DEXAMPLE_MANIFEST_DIR="$tmp/config/strata/plugins.d"
[ -f "$prefix/lib/strata/swish.so" ] || fail "swish.so was not installed into the Strata prefix"

# The vendor backend is found through the user manifest directory alone.
export XDG_CONFIG_HOME="$tmp/config" STRATA_MANIFEST_DIR="$tmp/no-system-manifests"
unset STRATA_PLUGIN_PATH STRATA_BACKEND 2>/dev/null || true
STRATA_DEBUG=loader "$strata" info >"$tmp/info.txt" 2>"$tmp/loader.txt" || { cat "$tmp/info.txt" "$tmp/loader.txt"; fail "strata info"; }
grep -q "reading manifest $tmp/config/strata/plugins.d/example.json" "$tmp/loader.txt" ||
    { cat "$tmp/loader.txt"; fail "STRATA_DEBUG=loader does not show the manifest being read"; }
grep -q "loaded $tmp/vendor/lib/strata-example/example.so" "$tmp/loader.txt" || fail "the loader did not load example.so"
grep -Eq "^  example +priority -10, 1 device" "$tmp/info.txt" || { cat "$tmp/info.txt"; fail "strata info: no example backend"; }
grep -Eq "^  swish +1\.0\.0" "$tmp/info.txt" || { cat "$tmp/info.txt"; fail "strata info: no swish plugin"; }
grep -q "swish::swish" "$tmp/info.txt" || fail "strata info: no swish::swish op"
log "strata info lists the example backend (manifest) and the swish plugin (lib/strata)"

# With both installed, the templates' tests must still run (and test) the
# build's copies: the installed ones are then duplicates.
for name in layer-plugin backend; do
    (cd "$tmp/build-$name" && ctest --output-on-failure) >"$tmp/retest-$name.log" 2>&1 ||
        { cat "$tmp/retest-$name.log"; fail "the $name template's tests with its installed copy present"; }
done
log "the templates' tests pass again with their installed copies present"

log "strata check --backend example"
"$strata" check --backend example --trials 2 --large 0 >"$tmp/check-example.txt" 2>&1 ||
    { cat "$tmp/check-example.txt"; fail "strata check --backend example"; }
tail -n 1 "$tmp/check-example.txt"

# The swish layer on every backend that has a device: the op's conformance
# and a few training steps of a model spec using the layer.
awk 'BEGIN { for (i = 0; i < 2400; i++) print "abcdefgh" }' >"$tmp/tiny.txt"
cp "$tmp/templates/layer-plugin/examples/swish-lm.yaml" "$tmp/swish-lm.yaml"
backends=$(sed -n 's/^  \([a-z0-9_]*\) *priority -\{0,1\}[0-9]*, \([1-9][0-9]*\) device.*/\1/p' "$tmp/info.txt")
[ -n "$backends" ] || fail "no backend with a device"
for b in $backends; do
    "$strata" check --backend "$b" --plugin "$prefix/lib/strata/swish.so" --op swish:: --large 0 \
        >"$tmp/check-$b.txt" 2>&1 || { cat "$tmp/check-$b.txt"; fail "strata check --backend $b --plugin swish.so"; }
    grep -Eq "^swish::swish +$b .* pass$" "$tmp/check-$b.txt" || { cat "$tmp/check-$b.txt"; fail "swish::swish not checked on $b"; }
    (cd "$tmp" && "$strata" train swish-lm.yaml --out "run-$b" --steps 20 --backend "$b") >"$tmp/train-$b.txt" 2>&1 ||
        { cat "$tmp/train-$b.txt"; fail "strata train swish-lm.yaml --backend $b"; }
    [ -s "$tmp/run-$b/metrics.jsonl" ] || fail "no metrics from training on $b"
    log "backend $b: swish::swish passes strata check; swish-lm.yaml trained 20 steps"
done

# An application through pkg-config; the headers it includes must build
# without a warning at the strictest settings users compile with.
cat >"$tmp/app.c" <<'APP'
#include <stdio.h>
#include <strata/strata.h>
#include <strata/strata_half.h>
int main(void)
{
    strata_runtime *rt = NULL;
    if (strata_runtime_create(NULL, &rt) != STRATA_OK)
        return 1;
    printf("%d backends\n", strata_backend_count(rt));
    strata_runtime_destroy(rt);
    return strata_f16_to_f32(strata_f32_to_f16(1.5f)) == 1.5f && strata_bf16_to_f32(strata_f32_to_bf16(-2.0f)) == -2.0f ? 0 : 1;
}
APP
pcdir=$(dirname "$(find "$prefix" -name strata.pc | head -n 1)")
# shellcheck disable=SC2046
cc -std=c11 -Wall -Wextra -Wpedantic -Wconversion -Werror -o "$tmp/app" "$tmp/app.c" \
    $(PKG_CONFIG_PATH="$pcdir" pkg-config --cflags --libs strata) \
    -Wl,-rpath,"$(PKG_CONFIG_PATH="$pcdir" pkg-config --variable=libdir strata)" || fail "building an application with strata.pc"
"$tmp/app" >/dev/null || fail "running the pkg-config application"
log "strata.pc builds an application"
log "all SDK checks passed"
