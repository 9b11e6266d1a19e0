/*
 * v1_0_schedule.c - a caller of strata_lr_at() compiled against the frozen
 * 1.0 headers (tests/abi/v1.0): its schedule is the 48-byte 1.0 struct,
 * followed in memory by bytes that would read as a 1.1 warmup. The core
 * must go by struct_size and read none of them (test_abi_compat).
 */
#include <string.h>

#include "strata/strata.h"

double v1_0_step_lr(double base_lr, int64_t step);

double v1_0_step_lr(double base_lr, int64_t step)
{
    union {
        strata_lr_schedule s;
        unsigned char bytes[256];
    } u;
    memset(u.bytes, 0x01, sizeof u.bytes); /* past the 1.0 struct: warmup_steps 0x0101..., if read */
    memset(&u.s, 0, sizeof u.s);
    u.s.struct_size = sizeof u.s;
    u.s.kind = STRATA_LR_STEP;
    u.s.step_size = 2;
    u.s.gamma = 0.5;
    return strata_lr_at(&u.s, base_lr, step);
}
