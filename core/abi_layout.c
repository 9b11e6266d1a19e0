/* abi_layout.c - freezes the 1.0 layouts of the boundary structs. A change
 * here is an ABI break: bump STRATA_ABI_MAJOR instead (DESIGN.md rule 5). */
#include <stddef.h>

#include "internal.h"

#if defined(__x86_64__) || defined(__aarch64__)
_Static_assert(sizeof(strata_attr) == 64, "strata_attr layout is frozen");
_Static_assert(offsetof(strata_attr, s) == 56, "strata_attr layout is frozen");
_Static_assert(sizeof(strata_tensor_desc) == 160, "strata_tensor_desc layout is frozen");
_Static_assert(offsetof(strata_tensor_desc, byte_offset) == 152, "strata_tensor_desc layout is frozen");
_Static_assert(offsetof(strata_kernel_call, n_attrs) == 80, "strata_kernel_call layout is frozen");
_Static_assert(offsetof(strata_op_def, doc) == 88, "strata_op_def layout is frozen");
_Static_assert(offsetof(strata_layer_type, doc) == 80, "strata_layer_type layout is frozen");
_Static_assert(offsetof(strata_optimizer_type, doc) == 72, "strata_optimizer_type layout is frozen");
_Static_assert(offsetof(strata_backend_def, destroy) == 120, "strata_backend_def layout is frozen");
_Static_assert(offsetof(strata_plugin_desc, shutdown) == 56, "strata_plugin_desc layout is frozen");
_Static_assert(offsetof(strata_host_api, init_normal) == 264, "strata_host_api 1.0 layout is frozen");
_Static_assert(offsetof(strata_op_invocation, n_outputs) == 72, "strata_op_invocation layout is frozen");
#endif
