/*
 * fuzz_common.h - shared pieces of the libFuzzer harnesses (tests/fuzz/).
 *
 * Every harness defines LLVMFuzzerTestOneInput(). Built with clang and
 * -fsanitize=fuzzer it is a libFuzzer target (tools/fuzz.sh); built with
 * replay_main.c by any compiler it replays files (the seed corpora and
 * tests/fuzz/regressions/) as the ctest fuzz_replay_NAME.
 */
#ifndef STRATA_FUZZ_COMMON_H
#define STRATA_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>

#include "strata/strata.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/**
 * Writes @p size bytes to file @p name ("in0", "in1", "manifest.json",
 * "metrics.jsonl", "summary.json", "spec.yaml") in this
 * process's private temporary directory, replacing what was there.
 * @returns the file's path (static storage, valid until the next call with
 *  the same name), or NULL when it cannot be written.
 */
const char *fz_write_file(const char *name, const uint8_t *data, size_t size);

/**
 * A runtime shared by every input of the process: no plugin discovery;
 * the ref backend and, if @p layer_plugins, the layer plugins (conv, lstm,
 * memnet, gan) are loaded from the build's lib/strata. Created on first
 * use; NULL if that fails.
 */
strata_runtime *fz_runtime(int layer_plugins);

/** Directory of the build's plugins (STRATA_FUZZ_PLUGIN_DIR at build time). */
const char *fz_plugin_dir(void);

#endif
