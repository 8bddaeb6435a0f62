/* MCP sessions (Streamable HTTP of 2025-03-26 to 2025-11-25, and the legacy HTTP+SSE
 * transport), reachable from every worker without a lock. With SO_REUSEPORT a session's POSTs,
 * its GET stream and its DELETE may each land on a different worker, so a session lives in one
 * process-wide table of fixed slots whose fields are atomics, published seqlock-style: the
 * session id names its slot and the slot's generation, and carries 128 random bits a lookup
 * compares. Any worker can find, touch and close a session; the worker holding a session's
 * stream is named in the slot, and what must reach that stream (a legacy SSE answer, "close")
 * goes to that worker's inbox (mcp_worker.h). The worker that made a session (its home) ends it
 * when idle and frees its slot once no stream holds it. */
#ifndef AIGW_MCP_SESSION_H
#define AIGW_MCP_SESSION_H

#include <stddef.h>
#include <stdint.h>

enum { GW_MCP_SESSION_ID_LEN = 48 };

typedef enum { GW_MCP_SESSION_STREAMABLE = 1, GW_MCP_SESSION_SSE = 2 } gw_mcp_session_kind;

typedef struct gw_mcp_session_ref {
    uint32_t slot, gen;
} gw_mcp_session_ref;

typedef struct gw_mcp_session_info {
    gw_mcp_session_kind kind;
    int version;        /* an index into gw_mcp_versions (mcp_protocol.h) */
    uint32_t server_id; /* the server (its path's hash) the session was made on */
    int home;           /* the worker that made it */
} gw_mcp_session_info;

/* A new session in a free slot among the first max, made by worker home. 0 with *ref and id
 * (GW_MCP_SESSION_ID_LEN characters and a NUL), or -1 when max sessions are open. */
int gw_mcp_session_create(int max, const gw_mcp_session_info *info, int64_t now,
                          gw_mcp_session_ref *ref, char *id);
/* The open session id names on server server_id, touched (its idle time starts again). 0 with
 * *ref and *info, or -1 when there is none (unknown, ended, another server's, or idle for
 * idle_ns without a stream: then it is ended here). */
int gw_mcp_session_find(const char *id, size_t len, uint32_t server_id, int64_t now,
                        int64_t idle_ns, gw_mcp_session_ref *ref, gw_mcp_session_info *info);
/* The version a legacy SSE session's initialize agreed on (it is made before). */
void gw_mcp_session_set_version(gw_mcp_session_ref ref, int version);
/* Whether the session ref names is still open. */
int gw_mcp_session_open(gw_mcp_session_ref ref);
/* Ends it (DELETE, idle, the stream of a legacy session ended): later lookups fail. Returns the
 * worker holding its stream, to be told, or -1 (none, or it was ended already). */
int gw_mcp_session_close(gw_mcp_session_ref ref);
/* Worker w holds the session's stream from now: 0, -1 when the session is gone, -2 when another
 * stream holds it. */
int gw_mcp_session_attach_stream(gw_mcp_session_ref ref, int w);
void gw_mcp_session_detach_stream(gw_mcp_session_ref ref, int w);
int gw_mcp_session_stream_worker(gw_mcp_session_ref ref);

/* For the home worker's sweep: 1 when the session is done with (ended, or without a request for
 * idle_ns and without a stream) and its slot was freed, 0 when it lives on. When it was idle,
 * it is closed first and *notify names a stream worker to tell (or -1). */
int gw_mcp_session_sweep(uint32_t slot, int64_t now, int64_t idle_ns, int *notify);
/* Open sessions over the whole process (for a full table's answer and the tests). */
int gw_mcp_session_count(void);

#endif
