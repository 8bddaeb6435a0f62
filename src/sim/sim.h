/* aigw-sim: a simulator of a vLLM OpenAI-compatible server (chat, completions, embeddings,
 * models, health, metrics) with deterministic token usage, timed streaming and fault injection.
 * With an engine mode it speaks another engine's wire format instead (SGLang, MindIE, TGI, the
 * Anthropic Messages API, Azure OpenAI), so engine adapters can be tested end to end.
 * It runs as the standalone binary aigw-sim and, in process, as the gateway's default channel.
 * Each worker thread owns an event_base and its own SO_REUSEPORT listener on the shared port. */
#ifndef AIGW_SIM_SIM_H
#define AIGW_SIM_SIM_H

#include <stdbool.h>
#include <stddef.h>

typedef struct sim_config {
    const char *host;         /* bind address; NULL = "127.0.0.1" */
    int port;                 /* 0 = pick an ephemeral port */
    int threads;              /* worker threads, <=0 means 1 */
    int first_token_delay_ms; /* default delay before the first streamed token / the whole
                                 non-stream answer */
    int inter_token_delay_ms; /* default delay between streamed tokens */
    int output_tokens;  /* tokens generated when the request sets no max_tokens; <=0 means 16 */
    const char *models; /* comma-separated served model names; NULL = "sim-model" */
    /* Also serve the /sim/ hooks on a second port, which the instance-wide "refuse" fault leaves
     * open, so a test can always bring a refusing engine back. control_port 0 picks an ephemeral
     * one. */
    bool control_listener;
    int control_port;
    /* The engine imitated: NULL or "openai" (the default, vLLM-like), "vllm", "sglang",
     * "mindie", "tgi", "anthropic" or "azure". */
    const char *engine;
    /* MindIE's management port (/health, /v2/health/live|ready), which mindie mode always opens:
     * on management_port when management_listener is set (0 = ephemeral), else ephemeral. Other
     * modes refuse it. */
    bool management_listener;
    int management_port;
} sim_config;

typedef struct sim_server sim_server;

/* Binds, starts the threads and returns once it accepts connections; NULL and a message in err
 * on failure. The config's strings are copied: the caller may free them afterwards. */
sim_server *sim_start(const sim_config *cfg, char *err, size_t errlen);
int sim_port(const sim_server *s);            /* the bound port (useful with port 0) */
int sim_control_port(const sim_server *s);    /* the control port; -1 when there is none */
int sim_management_port(const sim_server *s); /* MindIE's management port; -1 when none */
void sim_stop(sim_server *s); /* stops the threads, closes connections, frees everything */

#endif
