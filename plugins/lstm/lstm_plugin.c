/*
 * lstm_plugin.c - the lstm plugin's entry point: recurrent networks for
 * Strata, registered through the host table the way a third party's plugin
 * would be.
 *
 * Ops (domain lstm::, version 1; docs/lstm.md): lstm_seq, gru_seq, rnn_seq
 * (one layer, one direction, a whole sequence; host kernel, composite and
 * backward), their BPTT ops lstm_seq_backward, gru_seq_backward,
 * rnn_seq_backward, and the composite-only twins lstm_seq_unfused,
 * gru_seq_unfused, rnn_seq_unfused. Layers: lstm, gru, rnn (PyTorch's
 * nn.LSTM, nn.GRU, nn.RNN, with batch-first states).
 */
#include "lstm_internal.h"

static strata_status lstm_init(const strata_host_api *host, strata_plugin *plugin, void **user_out)
{
    (void)user_out;
    if (!host || host->struct_size < sizeof(strata_host_api))
        return STRATA_E_ABI; /* every entry used here exists since 1.0 */
    strata_status (*regs[])(const strata_host_api *, strata_plugin *) = {
        lstm_register_lstm_seq,
        lstm_register_gru_seq,
        lstm_register_rnn_seq,
        lstm_register_layers,
    };
    for (size_t k = 0; k < sizeof regs / sizeof regs[0]; k++) {
        strata_status rc = regs[k](host, plugin);
        if (rc)
            return rc;
    }
    return STRATA_OK;
}

STRATA_PLUGIN_DEFINE("lstm", "1.0.0", "recurrent networks: LSTM, GRU and Elman RNN sequence ops and layers", lstm_init,
                     NULL)
