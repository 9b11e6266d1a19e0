/*
 * abi_layout.c - the 1.0 layout of every struct and function table that
 * crosses the library or plugin boundary, checked at compile time
 * (DESIGN.md rule 5). Compile-only, built twice: against the current SDK
 * headers with every build (sdk/CMakeLists.txt: they may only have grown at
 * the end since 1.0), and against the frozen 1.0 headers (tests/abi/v1.0,
 * tests/abi/CMakeLists.txt: they must match these numbers).
 *
 * A failure here is an ABI break. Restore the old layout: add new members
 * at the end only (readers check struct_size), never reorder, retype or
 * remove one. Only a new major (STRATA_ABI_MAJOR + 1, a new baseline, a new
 * frozen copy of the headers) may change them.
 *
 * The numbers are the LP64 (x86-64, aarch64) ones, taken from the 1.0
 * headers when they were frozen.
 */
#include <stddef.h>

#include "strata/strata.h"
#include "strata/strata_backend.h"

#if defined(__LP64__)

/* A member keeps its 1.0 offset. */
#define STRATA_FROZEN_MEMBER(T, m, off)                                                                        \
    _Static_assert(offsetof(T, m) == (off), #T "." #m " moved from its 1.0 offset " #off ": ABI break")
/* A struct (or function table) may grow at the end, never shrink. */
#define STRATA_FROZEN_SIZE(T, size) _Static_assert(sizeof(T) >= (size), #T " is smaller than in 1.0: ABI break")
/* Structs passed in arrays (attrs, tensor descs, attr schemas): the array
 * stride is part of the ABI, so their size is frozen exactly. */
#define STRATA_FROZEN_EXACT(T, size) _Static_assert(sizeof(T) == (size), #T " passed in arrays changed size: ABI break")

_Static_assert(STRATA_ABI_MAJOR == 1, "this file freezes ABI 1: a new major needs its own layout file");

/* strata_attr: 9 members */
STRATA_FROZEN_EXACT(strata_attr, 64);
STRATA_FROZEN_MEMBER(strata_attr, struct_size, 0);
STRATA_FROZEN_MEMBER(strata_attr, name, 8);
STRATA_FROZEN_MEMBER(strata_attr, kind, 16);
STRATA_FROZEN_MEMBER(strata_attr, n, 20);
STRATA_FROZEN_MEMBER(strata_attr, i, 24);
STRATA_FROZEN_MEMBER(strata_attr, f, 32);
STRATA_FROZEN_MEMBER(strata_attr, ints, 40);
STRATA_FROZEN_MEMBER(strata_attr, floats, 48);
STRATA_FROZEN_MEMBER(strata_attr, s, 56);
/* strata_tensor_desc: 7 members */
STRATA_FROZEN_EXACT(strata_tensor_desc, 160);
STRATA_FROZEN_MEMBER(strata_tensor_desc, struct_size, 0);
STRATA_FROZEN_MEMBER(strata_tensor_desc, dtype, 8);
STRATA_FROZEN_MEMBER(strata_tensor_desc, ndim, 12);
STRATA_FROZEN_MEMBER(strata_tensor_desc, shape, 16);
STRATA_FROZEN_MEMBER(strata_tensor_desc, strides, 80);
STRATA_FROZEN_MEMBER(strata_tensor_desc, data, 144);
STRATA_FROZEN_MEMBER(strata_tensor_desc, byte_offset, 152);
/* strata_op_invocation: 11 members */
STRATA_FROZEN_SIZE(strata_op_invocation, 80);
STRATA_FROZEN_MEMBER(strata_op_invocation, struct_size, 0);
STRATA_FROZEN_MEMBER(strata_op_invocation, ext, 8);
STRATA_FROZEN_MEMBER(strata_op_invocation, op, 16);
STRATA_FROZEN_MEMBER(strata_op_invocation, version, 24);
STRATA_FROZEN_MEMBER(strata_op_invocation, flags, 28);
STRATA_FROZEN_MEMBER(strata_op_invocation, inputs, 32);
STRATA_FROZEN_MEMBER(strata_op_invocation, n_inputs, 40);
STRATA_FROZEN_MEMBER(strata_op_invocation, attrs, 48);
STRATA_FROZEN_MEMBER(strata_op_invocation, n_attrs, 56);
STRATA_FROZEN_MEMBER(strata_op_invocation, outputs, 64);
STRATA_FROZEN_MEMBER(strata_op_invocation, n_outputs, 72);
/* strata_runtime_options: 5 members */
STRATA_FROZEN_SIZE(strata_runtime_options, 40);
STRATA_FROZEN_MEMBER(strata_runtime_options, struct_size, 0);
STRATA_FROZEN_MEMBER(strata_runtime_options, ext, 8);
STRATA_FROZEN_MEMBER(strata_runtime_options, flags, 16);
STRATA_FROZEN_MEMBER(strata_runtime_options, plugin_path, 24);
STRATA_FROZEN_MEMBER(strata_runtime_options, seed, 32);
/* strata_plugin_record: 9 members */
STRATA_FROZEN_SIZE(strata_plugin_record, 64);
STRATA_FROZEN_MEMBER(strata_plugin_record, struct_size, 0);
STRATA_FROZEN_MEMBER(strata_plugin_record, name, 8);
STRATA_FROZEN_MEMBER(strata_plugin_record, path, 16);
STRATA_FROZEN_MEMBER(strata_plugin_record, version, 24);
STRATA_FROZEN_MEMBER(strata_plugin_record, abi_minor, 36);
STRATA_FROZEN_MEMBER(strata_plugin_record, loaded, 40);
STRATA_FROZEN_MEMBER(strata_plugin_record, status, 44);
STRATA_FROZEN_MEMBER(strata_plugin_record, reason, 48);
STRATA_FROZEN_MEMBER(strata_plugin_record, origin, 56);
/* strata_backend_record: 6 members */
STRATA_FROZEN_SIZE(strata_backend_record, 40);
STRATA_FROZEN_MEMBER(strata_backend_record, struct_size, 0);
STRATA_FROZEN_MEMBER(strata_backend_record, name, 8);
STRATA_FROZEN_MEMBER(strata_backend_record, plugin, 16);
STRATA_FROZEN_MEMBER(strata_backend_record, device_count, 24);
STRATA_FROZEN_MEMBER(strata_backend_record, priority, 28);
STRATA_FROZEN_MEMBER(strata_backend_record, unavailable, 32);
/* strata_lr_schedule: 6 members */
STRATA_FROZEN_SIZE(strata_lr_schedule, 48);
STRATA_FROZEN_MEMBER(strata_lr_schedule, struct_size, 0);
STRATA_FROZEN_MEMBER(strata_lr_schedule, kind, 8);
STRATA_FROZEN_MEMBER(strata_lr_schedule, step_size, 16);
STRATA_FROZEN_MEMBER(strata_lr_schedule, gamma, 24);
STRATA_FROZEN_MEMBER(strata_lr_schedule, total, 32);
STRATA_FROZEN_MEMBER(strata_lr_schedule, eta_min, 40);
/* strata_text_options: 6 members */
STRATA_FROZEN_SIZE(strata_text_options, 48);
STRATA_FROZEN_MEMBER(strata_text_options, struct_size, 0);
STRATA_FROZEN_MEMBER(strata_text_options, ext, 8);
STRATA_FROZEN_MEMBER(strata_text_options, mode, 16);
STRATA_FROZEN_MEMBER(strata_text_options, val_fraction, 24);
STRATA_FROZEN_MEMBER(strata_text_options, vocab, 32);
STRATA_FROZEN_MEMBER(strata_text_options, vocab_size, 40);
/* strata_babi_question: 12 members */
STRATA_FROZEN_SIZE(strata_babi_question, 96);
STRATA_FROZEN_MEMBER(strata_babi_question, struct_size, 0);
STRATA_FROZEN_MEMBER(strata_babi_question, story, 8);
STRATA_FROZEN_MEMBER(strata_babi_question, context_first, 16);
STRATA_FROZEN_MEMBER(strata_babi_question, context_count, 24);
STRATA_FROZEN_MEMBER(strata_babi_question, words, 32);
STRATA_FROZEN_MEMBER(strata_babi_question, n_words, 40);
STRATA_FROZEN_MEMBER(strata_babi_question, answer, 48);
STRATA_FROZEN_MEMBER(strata_babi_question, answer_parts, 56);
STRATA_FROZEN_MEMBER(strata_babi_question, n_answer_parts, 64);
STRATA_FROZEN_MEMBER(strata_babi_question, supporting, 72);
STRATA_FROZEN_MEMBER(strata_babi_question, n_supporting, 80);
STRATA_FROZEN_MEMBER(strata_babi_question, line, 88);
/* strata_infer_call: 9 members */
STRATA_FROZEN_SIZE(strata_infer_call, 72);
STRATA_FROZEN_MEMBER(strata_infer_call, struct_size, 0);
STRATA_FROZEN_MEMBER(strata_infer_call, op, 8);
STRATA_FROZEN_MEMBER(strata_infer_call, inputs, 16);
STRATA_FROZEN_MEMBER(strata_infer_call, n_inputs, 24);
STRATA_FROZEN_MEMBER(strata_infer_call, attrs, 32);
STRATA_FROZEN_MEMBER(strata_infer_call, n_attrs, 40);
STRATA_FROZEN_MEMBER(strata_infer_call, outputs, 48);
STRATA_FROZEN_MEMBER(strata_infer_call, n_outputs, 56);
STRATA_FROZEN_MEMBER(strata_infer_call, user, 64);
/* strata_kernel_call: 11 members */
STRATA_FROZEN_SIZE(strata_kernel_call, 88);
STRATA_FROZEN_MEMBER(strata_kernel_call, struct_size, 0);
STRATA_FROZEN_MEMBER(strata_kernel_call, op, 8);
STRATA_FROZEN_MEMBER(strata_kernel_call, backend_self, 16);
STRATA_FROZEN_MEMBER(strata_kernel_call, device, 24);
STRATA_FROZEN_MEMBER(strata_kernel_call, user, 32);
STRATA_FROZEN_MEMBER(strata_kernel_call, inputs, 40);
STRATA_FROZEN_MEMBER(strata_kernel_call, n_inputs, 48);
STRATA_FROZEN_MEMBER(strata_kernel_call, outputs, 56);
STRATA_FROZEN_MEMBER(strata_kernel_call, n_outputs, 64);
STRATA_FROZEN_MEMBER(strata_kernel_call, attrs, 72);
STRATA_FROZEN_MEMBER(strata_kernel_call, n_attrs, 80);
/* strata_backward_call: 14 members */
STRATA_FROZEN_SIZE(strata_backward_call, 112);
STRATA_FROZEN_MEMBER(strata_backward_call, struct_size, 0);
STRATA_FROZEN_MEMBER(strata_backward_call, host, 8);
STRATA_FROZEN_MEMBER(strata_backward_call, rt, 16);
STRATA_FROZEN_MEMBER(strata_backward_call, op, 24);
STRATA_FROZEN_MEMBER(strata_backward_call, inputs, 32);
STRATA_FROZEN_MEMBER(strata_backward_call, n_inputs, 40);
STRATA_FROZEN_MEMBER(strata_backward_call, outputs, 48);
STRATA_FROZEN_MEMBER(strata_backward_call, n_outputs, 56);
STRATA_FROZEN_MEMBER(strata_backward_call, grad_outputs, 64);
STRATA_FROZEN_MEMBER(strata_backward_call, needs_grad, 72);
STRATA_FROZEN_MEMBER(strata_backward_call, grad_inputs, 80);
STRATA_FROZEN_MEMBER(strata_backward_call, attrs, 88);
STRATA_FROZEN_MEMBER(strata_backward_call, n_attrs, 96);
STRATA_FROZEN_MEMBER(strata_backward_call, user, 104);
/* strata_composite_call: 11 members */
STRATA_FROZEN_SIZE(strata_composite_call, 88);
STRATA_FROZEN_MEMBER(strata_composite_call, struct_size, 0);
STRATA_FROZEN_MEMBER(strata_composite_call, host, 8);
STRATA_FROZEN_MEMBER(strata_composite_call, rt, 16);
STRATA_FROZEN_MEMBER(strata_composite_call, op, 24);
STRATA_FROZEN_MEMBER(strata_composite_call, inputs, 32);
STRATA_FROZEN_MEMBER(strata_composite_call, n_inputs, 40);
STRATA_FROZEN_MEMBER(strata_composite_call, attrs, 48);
STRATA_FROZEN_MEMBER(strata_composite_call, n_attrs, 56);
STRATA_FROZEN_MEMBER(strata_composite_call, outputs, 64);
STRATA_FROZEN_MEMBER(strata_composite_call, n_outputs, 72);
STRATA_FROZEN_MEMBER(strata_composite_call, user, 80);
/* strata_op_def: 14 members */
STRATA_FROZEN_SIZE(strata_op_def, 96);
STRATA_FROZEN_MEMBER(strata_op_def, struct_size, 0);
STRATA_FROZEN_MEMBER(strata_op_def, ext, 8);
STRATA_FROZEN_MEMBER(strata_op_def, name, 16);
STRATA_FROZEN_MEMBER(strata_op_def, version, 24);
STRATA_FROZEN_MEMBER(strata_op_def, min_inputs, 28);
STRATA_FROZEN_MEMBER(strata_op_def, max_inputs, 32);
STRATA_FROZEN_MEMBER(strata_op_def, n_outputs, 36);
STRATA_FROZEN_MEMBER(strata_op_def, flags, 40);
STRATA_FROZEN_MEMBER(strata_op_def, infer, 48);
STRATA_FROZEN_MEMBER(strata_op_def, backward, 56);
STRATA_FROZEN_MEMBER(strata_op_def, composite, 64);
STRATA_FROZEN_MEMBER(strata_op_def, host_kernel, 72);
STRATA_FROZEN_MEMBER(strata_op_def, user, 80);
STRATA_FROZEN_MEMBER(strata_op_def, doc, 88);
#if STRATA_ABI_MINOR >= 2 /* added in 1.2, at the end (this file is also built against the frozen 1.0 headers) */
STRATA_FROZEN_MEMBER(strata_op_def, backward_unread_inputs, 96);
STRATA_FROZEN_MEMBER(strata_op_def, backward_unread_outputs, 100);
#endif
#if STRATA_ABI_MINOR >= 4 /* added in 1.4, at the end */
STRATA_FROZEN_MEMBER(strata_op_def, attrs, 104);
STRATA_FROZEN_MEMBER(strata_op_def, n_attrs, 112);
#endif
/* strata_attr_spec: 8 members */
STRATA_FROZEN_EXACT(strata_attr_spec, 56);
STRATA_FROZEN_MEMBER(strata_attr_spec, struct_size, 0);
STRATA_FROZEN_MEMBER(strata_attr_spec, name, 8);
STRATA_FROZEN_MEMBER(strata_attr_spec, kind, 16);
STRATA_FROZEN_MEMBER(strata_attr_spec, required, 20);
STRATA_FROZEN_MEMBER(strata_attr_spec, dflt_i, 24);
STRATA_FROZEN_MEMBER(strata_attr_spec, dflt_f, 32);
STRATA_FROZEN_MEMBER(strata_attr_spec, dflt_s, 40);
STRATA_FROZEN_MEMBER(strata_attr_spec, doc, 48);
/* strata_layer_create_call: 12 members */
STRATA_FROZEN_SIZE(strata_layer_create_call, 96);
STRATA_FROZEN_MEMBER(strata_layer_create_call, struct_size, 0);
STRATA_FROZEN_MEMBER(strata_layer_create_call, host, 8);
STRATA_FROZEN_MEMBER(strata_layer_create_call, rt, 16);
STRATA_FROZEN_MEMBER(strata_layer_create_call, layer, 24);
STRATA_FROZEN_MEMBER(strata_layer_create_call, attrs, 32);
STRATA_FROZEN_MEMBER(strata_layer_create_call, n_attrs, 40);
STRATA_FROZEN_MEMBER(strata_layer_create_call, inputs, 48);
STRATA_FROZEN_MEMBER(strata_layer_create_call, n_inputs, 56);
STRATA_FROZEN_MEMBER(strata_layer_create_call, outputs, 64);
STRATA_FROZEN_MEMBER(strata_layer_create_call, n_outputs, 72);
STRATA_FROZEN_MEMBER(strata_layer_create_call, user, 80);
STRATA_FROZEN_MEMBER(strata_layer_create_call, state, 88);
/* strata_layer_forward_call: 11 members */
STRATA_FROZEN_SIZE(strata_layer_forward_call, 80);
STRATA_FROZEN_MEMBER(strata_layer_forward_call, struct_size, 0);
STRATA_FROZEN_MEMBER(strata_layer_forward_call, host, 8);
STRATA_FROZEN_MEMBER(strata_layer_forward_call, rt, 16);
STRATA_FROZEN_MEMBER(strata_layer_forward_call, layer, 24);
STRATA_FROZEN_MEMBER(strata_layer_forward_call, state, 32);
STRATA_FROZEN_MEMBER(strata_layer_forward_call, inputs, 40);
STRATA_FROZEN_MEMBER(strata_layer_forward_call, n_inputs, 48);
STRATA_FROZEN_MEMBER(strata_layer_forward_call, outputs, 56);
STRATA_FROZEN_MEMBER(strata_layer_forward_call, n_outputs, 64);
STRATA_FROZEN_MEMBER(strata_layer_forward_call, training, 68);
STRATA_FROZEN_MEMBER(strata_layer_forward_call, user, 72);
/* strata_layer_type: 13 members */
STRATA_FROZEN_SIZE(strata_layer_type, 88);
STRATA_FROZEN_MEMBER(strata_layer_type, struct_size, 0);
STRATA_FROZEN_MEMBER(strata_layer_type, ext, 8);
STRATA_FROZEN_MEMBER(strata_layer_type, name, 16);
STRATA_FROZEN_MEMBER(strata_layer_type, attrs, 24);
STRATA_FROZEN_MEMBER(strata_layer_type, n_attrs, 32);
STRATA_FROZEN_MEMBER(strata_layer_type, min_inputs, 36);
STRATA_FROZEN_MEMBER(strata_layer_type, max_inputs, 40);
STRATA_FROZEN_MEMBER(strata_layer_type, n_outputs, 44);
STRATA_FROZEN_MEMBER(strata_layer_type, create, 48);
STRATA_FROZEN_MEMBER(strata_layer_type, forward, 56);
STRATA_FROZEN_MEMBER(strata_layer_type, destroy, 64);
STRATA_FROZEN_MEMBER(strata_layer_type, user, 72);
STRATA_FROZEN_MEMBER(strata_layer_type, doc, 80);
/* strata_optimizer_step_call: 11 members */
STRATA_FROZEN_SIZE(strata_optimizer_step_call, 88);
STRATA_FROZEN_MEMBER(strata_optimizer_step_call, struct_size, 0);
STRATA_FROZEN_MEMBER(strata_optimizer_step_call, host, 8);
STRATA_FROZEN_MEMBER(strata_optimizer_step_call, rt, 16);
STRATA_FROZEN_MEMBER(strata_optimizer_step_call, param, 24);
STRATA_FROZEN_MEMBER(strata_optimizer_step_call, grad, 32);
STRATA_FROZEN_MEMBER(strata_optimizer_step_call, slots, 40);
STRATA_FROZEN_MEMBER(strata_optimizer_step_call, n_slots, 48);
STRATA_FROZEN_MEMBER(strata_optimizer_step_call, attrs, 56);
STRATA_FROZEN_MEMBER(strata_optimizer_step_call, n_attrs, 64);
STRATA_FROZEN_MEMBER(strata_optimizer_step_call, step, 72);
STRATA_FROZEN_MEMBER(strata_optimizer_step_call, user, 80);
/* strata_optimizer_type: 10 members */
STRATA_FROZEN_SIZE(strata_optimizer_type, 80);
STRATA_FROZEN_MEMBER(strata_optimizer_type, struct_size, 0);
STRATA_FROZEN_MEMBER(strata_optimizer_type, ext, 8);
STRATA_FROZEN_MEMBER(strata_optimizer_type, name, 16);
STRATA_FROZEN_MEMBER(strata_optimizer_type, attrs, 24);
STRATA_FROZEN_MEMBER(strata_optimizer_type, n_attrs, 32);
STRATA_FROZEN_MEMBER(strata_optimizer_type, slots, 40);
STRATA_FROZEN_MEMBER(strata_optimizer_type, n_slots, 48);
STRATA_FROZEN_MEMBER(strata_optimizer_type, step, 56);
STRATA_FROZEN_MEMBER(strata_optimizer_type, user, 64);
STRATA_FROZEN_MEMBER(strata_optimizer_type, doc, 72);
/* strata_host_api: 35 members */
STRATA_FROZEN_SIZE(strata_host_api, 272);
STRATA_FROZEN_MEMBER(strata_host_api, struct_size, 0);
STRATA_FROZEN_MEMBER(strata_host_api, abi_major, 8);
STRATA_FROZEN_MEMBER(strata_host_api, abi_minor, 12);
STRATA_FROZEN_MEMBER(strata_host_api, set_error, 16);
STRATA_FROZEN_MEMBER(strata_host_api, log, 24);
STRATA_FROZEN_MEMBER(strata_host_api, plugin_runtime, 32);
STRATA_FROZEN_MEMBER(strata_host_api, register_op, 40);
STRATA_FROZEN_MEMBER(strata_host_api, register_kernel, 48);
STRATA_FROZEN_MEMBER(strata_host_api, register_layer, 56);
STRATA_FROZEN_MEMBER(strata_host_api, register_optimizer, 64);
STRATA_FROZEN_MEMBER(strata_host_api, register_backend, 72);
STRATA_FROZEN_MEMBER(strata_host_api, op_call, 80);
STRATA_FROZEN_MEMBER(strata_host_api, op_invoke, 88);
STRATA_FROZEN_MEMBER(strata_host_api, op_create, 96);
STRATA_FROZEN_MEMBER(strata_host_api, grad_enabled, 104);
STRATA_FROZEN_MEMBER(strata_host_api, set_grad_enabled, 112);
STRATA_FROZEN_MEMBER(strata_host_api, tensor_zeros, 120);
STRATA_FROZEN_MEMBER(strata_host_api, tensor_from_host, 128);
STRATA_FROZEN_MEMBER(strata_host_api, tensor_retain, 136);
STRATA_FROZEN_MEMBER(strata_host_api, tensor_release, 144);
STRATA_FROZEN_MEMBER(strata_host_api, tensor_ndim, 152);
STRATA_FROZEN_MEMBER(strata_host_api, tensor_shape, 160);
STRATA_FROZEN_MEMBER(strata_host_api, tensor_numel, 168);
STRATA_FROZEN_MEMBER(strata_host_api, tensor_dtype, 176);
STRATA_FROZEN_MEMBER(strata_host_api, tensor_device, 184);
STRATA_FROZEN_MEMBER(strata_host_api, tensor_runtime, 192);
STRATA_FROZEN_MEMBER(strata_host_api, tensor_read, 200);
STRATA_FROZEN_MEMBER(strata_host_api, tensor_write, 208);
STRATA_FROZEN_MEMBER(strata_host_api, tensor_desc, 216);
STRATA_FROZEN_MEMBER(strata_host_api, layer_add_param, 224);
STRATA_FROZEN_MEMBER(strata_host_api, layer_add_buffer, 232);
STRATA_FROZEN_MEMBER(strata_host_api, layer_device, 240);
STRATA_FROZEN_MEMBER(strata_host_api, layer_name, 248);
STRATA_FROZEN_MEMBER(strata_host_api, init_uniform, 256);
STRATA_FROZEN_MEMBER(strata_host_api, init_normal, 264);
/* strata_plugin_desc: 9 members */
STRATA_FROZEN_SIZE(strata_plugin_desc, 64);
STRATA_FROZEN_MEMBER(strata_plugin_desc, struct_size, 0);
STRATA_FROZEN_MEMBER(strata_plugin_desc, ext, 8);
STRATA_FROZEN_MEMBER(strata_plugin_desc, abi_major, 16);
STRATA_FROZEN_MEMBER(strata_plugin_desc, abi_minor, 20);
STRATA_FROZEN_MEMBER(strata_plugin_desc, name, 24);
STRATA_FROZEN_MEMBER(strata_plugin_desc, version, 32);
STRATA_FROZEN_MEMBER(strata_plugin_desc, description, 40);
STRATA_FROZEN_MEMBER(strata_plugin_desc, init, 48);
STRATA_FROZEN_MEMBER(strata_plugin_desc, shutdown, 56);
/* strata_backend_def: 17 members */
STRATA_FROZEN_SIZE(strata_backend_def, 128);
STRATA_FROZEN_MEMBER(strata_backend_def, struct_size, 0);
STRATA_FROZEN_MEMBER(strata_backend_def, ext, 8);
STRATA_FROZEN_MEMBER(strata_backend_def, name, 16);
STRATA_FROZEN_MEMBER(strata_backend_def, priority, 24);
STRATA_FROZEN_MEMBER(strata_backend_def, flags, 28);
STRATA_FROZEN_MEMBER(strata_backend_def, self, 32);
STRATA_FROZEN_MEMBER(strata_backend_def, device_count, 40);
STRATA_FROZEN_MEMBER(strata_backend_def, device_name, 48);
STRATA_FROZEN_MEMBER(strata_backend_def, unavailable, 56);
STRATA_FROZEN_MEMBER(strata_backend_def, alloc, 64);
STRATA_FROZEN_MEMBER(strata_backend_def, free, 72);
STRATA_FROZEN_MEMBER(strata_backend_def, copy_to_host, 80);
STRATA_FROZEN_MEMBER(strata_backend_def, copy_from_host, 88);
STRATA_FROZEN_MEMBER(strata_backend_def, copy_on_device, 96);
STRATA_FROZEN_MEMBER(strata_backend_def, synchronize, 104);
STRATA_FROZEN_MEMBER(strata_backend_def, supports_op, 112);
STRATA_FROZEN_MEMBER(strata_backend_def, destroy, 120);

#endif /* __LP64__ */
