/*
 * handoff.h: the C API of Handoff (libHandoffC.so), for inference engines that are not written in Swift.
 *
 * Two layers:
 *   - the bare data plane: register memory, exchange pool descriptors as bytes, connect, READ or WRITE lists of
 *     (source block, destination block) pairs or byte ranges, poll or wait a transfer, read its report;
 *   - the connector runtime: join a coordinator as a prefill or decode worker with the engine's own KV memory,
 *     receive its instructions as events (poll, wait, or a file descriptor), answer each with one call.
 *
 * Conventions:
 *   - Handles are opaque. Each is freed by its own *_destroy, *_release or *_free call, exactly once; a handle
 *     must not be used after that.
 *   - Every function is thread-safe. Blocking calls (connect, wait, runtime start) block only the calling
 *     thread. Nothing calls back into the caller: completion is polled, waited for, or signalled on a file
 *     descriptor.
 *   - Functions that can fail return a handoff_status and, when `error` is not NULL, set `*error` to a message
 *     the caller frees with handoff_string_free (NULL on success).
 *   - Memory the caller registers stays the caller's: it must stay valid until the pool (or runtime) is released.
 *
 * Build: swift build -c release --product HandoffC (the library lands in .build/release/libHandoffC.so).
 */
#ifndef HANDOFF_H
#define HANDOFF_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** The version of this API; handoff_api_version() returns the library's. */
#define HANDOFF_API_VERSION 4

/** What a call returned. Errors are negative. */
typedef enum handoff_status {
    HANDOFF_OK = 0,
    /** A transfer is still running, or no event came before the timeout. */
    HANDOFF_PENDING = 1,
    /** A NULL handle, an unknown enum value, a value out of range. */
    HANDOFF_E_INVALID_ARGUMENT = -1,
    /** A pool descriptor could not be decoded, or is for another transport or memory type. */
    HANDOFF_E_DESCRIPTOR = -2,
    /** A layout, block id or byte range does not fit the pools. */
    HANDOFF_E_LAYOUT = -3,
    /** The pool, peer or ticket is not (or no longer) known. */
    HANDOFF_E_UNKNOWN = -4,
    /** The peer failed, went away or refused the request. */
    HANDOFF_E_PEER = -5,
    /** The deadline passed. */
    HANDOFF_E_TIMED_OUT = -6,
    /** The transfer was cancelled. */
    HANDOFF_E_CANCELLED = -7,
    /** The transport or runtime is closed. */
    HANDOFF_E_CLOSED = -8,
    /** The data plane failed (UCX, sockets, registration). */
    HANDOFF_E_TRANSPORT = -9,
    /** The coordinator refused or could not be reached. */
    HANDOFF_E_COORDINATOR = -10,
} handoff_status;

/** READ pulls the peer's (source) blocks into local (destination) ones; WRITE pushes local blocks to the peer. */
typedef enum handoff_operation {
    HANDOFF_READ = 0,
    HANDOFF_WRITE = 1,
} handoff_operation;

/** Where K and V pieces sit inside a layer's region. */
typedef enum handoff_arrangement {
    /** [2, num_blocks, ...] per layer: every K piece, then every V piece (FlashAttention). */
    HANDOFF_SPLIT = 0,
    /** [num_blocks, 2, ...] per layer: K and V of one block adjacent (FlashInfer). */
    HANDOFF_FUSED = 1,
} handoff_arrangement;

/** The shape of a pool: one memory region per layer holding num_blocks blocks. */
typedef struct handoff_layout {
    /** Layers, one memory region each. */
    uint32_t layers;
    /** Pieces per block and layer: 2 (K, V), or 1 (an MLA latent, or a block stored as one run). */
    uint32_t kinds_per_block;
    /** Bytes of one piece: one block's K (or V) in one layer. */
    uint64_t piece_bytes;
    /** Blocks in the pool; block ids are 0 ..< num_blocks. */
    uint64_t num_blocks;
    /** A handoff_arrangement. */
    uint32_t arrangement;
    /** Bytes of one layer's region (output of handoff_layout_check; ignored as input). */
    uint64_t region_bytes;
} handoff_layout;

/** An engine's KV cache in its own terms; the runtime derives the piece size and the compatibility hash. */
typedef struct handoff_engine_layout {
    /** The model's name as the engine knows it; workers pair only within one model. */
    const char *model;
    uint32_t layers;
    uint32_t kv_heads;
    uint32_t head_dim;
    /** Bytes per element: 2 for fp16/bf16, 1 for fp8. */
    uint32_t dtype_bytes;
    /** Tokens per block. */
    uint32_t block_tokens;
    uint64_t num_blocks;
    /** A handoff_arrangement. */
    uint32_t arrangement;
    /** 2 when K and V are separate pieces, 1 for a latent or a block stored as one run (vLLM's CPU layout). */
    uint32_t kinds_per_block;
} handoff_engine_layout;

/** One contiguous copy: length bytes from a source region and offset to a destination region and offset. */
typedef struct handoff_range {
    uint32_t source_region;
    uint64_t source_offset;
    uint32_t destination_region;
    uint64_t destination_offset;
    uint64_t length;
} handoff_range;

/** Options of one transfer; NULL takes the defaults. */
typedef struct handoff_transfer_options {
    /** The most ops in flight at once; 0 for the default (128). */
    uint32_t max_outstanding_ops;
    /** Deadline in milliseconds; 0 for the default (30 s). */
    uint64_t timeout_ms;
    /** The grant token the peer gave for these blocks (native TCP checks it); 0 for none. */
    uint64_t grant;
} handoff_transfer_options;

/** What a finished transfer did. */
typedef struct handoff_report {
    /** A handoff_operation. */
    uint32_t operation;
    /** Bytes moved. */
    uint64_t bytes;
    /** Ops posted after merging contiguous pieces. */
    uint64_t ops;
    /** Block pieces (or ranges) the request named, before merging. */
    uint64_t pieces;
    /** Seconds until every op was in flight, then until every op had completed. */
    double post_seconds;
    double completion_seconds;
    /** Per-op latency percentiles, microseconds. */
    double op_latency_p50_us;
    double op_latency_p99_us;
    /** The data plane that moved the bytes: "shm" (same-host shared memory), "ucx" or "tcp". */
    char transport[16];
    /** The lanes under it, comma-separated (UCX: "posix", "cma", "tcp", ...; shm: "memfd"; native TCP: "tcp"). */
    char lanes[128];
    /** Why auto selection fell back to native TCP; empty when it did not. */
    char fallback[128];
} handoff_report;

/** How a data plane runs; NULL takes the defaults (auto, listening on 0.0.0.0). */
typedef struct handoff_transport_options {
    /**
     * "auto" (same-host shared memory where the pool's memory allows, else UCX where both peers have it, else native
     * TCP), "ucx", "tcp" or "shm" (same-host peers only; no grants checked); NULL for auto.
     */
    const char *kind;
    /** IPv4 address the native TCP data plane listens on; NULL for 0.0.0.0. */
    const char *tcp_listen_host;
    /** Comma-separated addresses (IPv4 or DNS names) peers reach it at; NULL derives them. */
    const char *tcp_advertised_hosts;
    /** Comma-separated UCX transports (UCX_TLS); NULL: UCX_TLS when set, otherwise all of UCX's but tcp. */
    const char *ucx_transports;
} handoff_transport_options;

typedef struct handoff_transport handoff_transport;
typedef struct handoff_pool handoff_pool;
typedef struct handoff_peer handoff_peer;
typedef struct handoff_transfer handoff_transfer;
typedef struct handoff_runtime handoff_runtime;

/** The library's API version (HANDOFF_API_VERSION of the header it was built with). */
int handoff_api_version(void);
/** Frees a message returned through an `error` argument. NULL is ignored. */
void handoff_string_free(char *string);
/** Frees bytes returned by handoff_pool_descriptor. NULL is ignored. */
void handoff_bytes_free(uint8_t *bytes);

/** Checks a layout and fills in its region_bytes. */
handoff_status handoff_layout_check(handoff_layout *layout, char **error);
/** The data-plane layout of an engine's KV cache (piece bytes derived, overflow-checked). */
handoff_status handoff_engine_layout_resolve(const handoff_engine_layout *engine, handoff_layout *out, char **error);

/* ---- The bare data plane ---------------------------------------------------------------------------------- */

/** Starts a data plane. Destroy it with handoff_transport_destroy. With $HANDOFF_TLS_CERT, $HANDOFF_TLS_KEY and
 *  $HANDOFF_TLS_CA all set, its native TCP side speaks mutual TLS (and "auto" leaves UCX out; "ucx" is refused). */
handoff_status handoff_transport_create(
    const handoff_transport_options *options, handoff_transport **out, char **error);
/**
 * Stops a data plane: cancels running transfers, disconnects peers, deregisters pools and frees the memory it
 * allocated, stops its threads. Blocks until done. Its pool and peer handles must still be released; every other
 * call on them then returns HANDOFF_E_CLOSED (an address from handoff_pool_region is no longer valid).
 */
void handoff_transport_destroy(handoff_transport *transport);

/**
 * Registers the caller's memory as a pool: one region per layer, each at least layout->region_bytes long. With
 * "auto" or "shm", private anonymous memory (large malloc/NumPy/torch CPU allocations) is remapped in place onto
 * memfds, contents and addresses unchanged, so that same-host peers map it: register before writing KV into it.
 */
handoff_status handoff_pool_register(
    handoff_transport *transport, const handoff_layout *layout, void *const *regions, const uint64_t *lengths,
    size_t region_count, handoff_pool **out, char **error);
/** Allocates a zero-filled pool (shared memory where UCX can); handoff_pool_region gives its memory. */
handoff_status handoff_pool_allocate(
    handoff_transport *transport, const handoff_layout *layout, handoff_pool **out, char **error);
/** The address and length of a pool's region `index`, valid until the pool or its transport goes. */
handoff_status handoff_pool_region(
    const handoff_pool *pool, uint32_t index, void **address, uint64_t *length, char **error);
/** The descriptor a peer connects with, as bytes the caller frees with handoff_bytes_free. */
handoff_status handoff_pool_descriptor(handoff_pool *pool, uint8_t **bytes, size_t *length, char **error);
/**
 * From now on serves peers only the blocks that a live grant covers. Only native TCP can check: UCX's one-sided
 * transfers and same-host shared memory run without this side's CPU, so there the descriptor is the capability.
 */
handoff_status handoff_pool_require_grants(handoff_pool *pool, char **error);
/** Lets the peer presenting *token (a new random token) `operation` blocks of the pool, until revoked. */
handoff_status handoff_pool_grant(
    handoff_pool *pool, handoff_operation operation, const int64_t *blocks, size_t count, uint64_t *token,
    char **error);
/** Ends a grant; returns once no request under it is still being served. */
void handoff_pool_revoke(handoff_pool *pool, uint64_t token);
/** Deregisters the pool (frees it when allocated) and frees the handle. Blocks until done. */
void handoff_pool_release(handoff_pool *pool);

/** Connects to the pool a descriptor describes. Blocks until connected or failed. */
handoff_status handoff_peer_connect(
    handoff_transport *transport, const uint8_t *descriptor, size_t length, handoff_peer **out, char **error);
/** The layout of the peer's pool (with region_bytes). */
void handoff_peer_layout(const handoff_peer *peer, handoff_layout *out);
/** Disconnects and frees the handle. */
void handoff_peer_disconnect(handoff_peer *peer);

/**
 * Starts moving source_blocks[i] to destination_blocks[i] for every i, in every layer. For a READ the source is
 * the peer's pool and the destination `local`; for a WRITE the other way round. The call returns at once.
 */
handoff_status handoff_transfer_blocks(
    handoff_peer *peer, handoff_pool *local, handoff_operation operation, const int64_t *source_blocks,
    const int64_t *destination_blocks, size_t count, const handoff_transfer_options *options,
    handoff_transfer **out, char **error);
/** Starts moving byte ranges (regions as the layout numbers them: one per layer). Returns at once. */
handoff_status handoff_transfer_ranges(
    handoff_peer *peer, handoff_pool *local, handoff_operation operation, const handoff_range *ranges,
    size_t count, const handoff_transfer_options *options, handoff_transfer **out, char **error);
/** HANDOFF_PENDING while running, HANDOFF_OK when every byte arrived, or the transfer's error. */
handoff_status handoff_transfer_poll(handoff_transfer *transfer, char **error);
/** Waits up to timeout_ms (negative: forever); then as handoff_transfer_poll. */
handoff_status handoff_transfer_wait(handoff_transfer *transfer, int64_t timeout_ms, char **error);
/** A file descriptor that becomes readable when the transfer has ended. Owned by the transfer. */
int handoff_transfer_fd(const handoff_transfer *transfer);
/** Asks a running transfer to stop; it then ends with HANDOFF_E_CANCELLED. */
void handoff_transfer_cancel(handoff_transfer *transfer);
/** The report of a transfer that ended with HANDOFF_OK. */
handoff_status handoff_transfer_report(const handoff_transfer *transfer, handoff_report *out, char **error);
/** Frees the handle; a running transfer is cancelled first and has stopped touching memory when this returns. */
void handoff_transfer_destroy(handoff_transfer *transfer);

/* ---- The connector runtime -------------------------------------------------------------------------------- */

typedef enum handoff_role {
    HANDOFF_PREFILL = 0,
    HANDOFF_DECODE = 1,
} handoff_role;

/** How an engine joins the coordinator. */
typedef struct handoff_runtime_options {
    /** The worker's id, unique among the coordinator's workers (the pod name). */
    const char *id;
    /** A handoff_role. */
    uint32_t role;
    /** The coordinator, HOST:PORT (IPv4, [IPv6] or a DNS name), or a cluster's HOST:PORT,HOST:PORT,... (the leader is followed). */
    const char *coordinator;
    /** The bearer token; NULL reads token_file, then $HANDOFF_TOKEN. TLS to the coordinator comes from the
     *  environment: $HANDOFF_TLS_CA (the CA bundle that signed the coordinator's certificate), and for mutual TLS
     *  $HANDOFF_TLS_CERT and $HANDOFF_TLS_KEY (this worker's certificate and key); unset: plaintext. With all
     *  three, the worker's native TCP data plane speaks mutual TLS with them too. */
    const char *token;
    const char *token_file;
    const handoff_engine_layout *layout;
    /** The engine's KV memory, one buffer per layer; buffer_count 0 lets the data plane allocate the pool. */
    void *const *buffers;
    const uint64_t *buffer_lengths;
    size_t buffer_count;
    /** The data plane; NULL for the defaults. */
    const handoff_transport_options *transport;
    /** Placement labels; NULL for none. */
    const char *node;
    const char *rack;
    /** Pulls (decode) that may run at once; 0 for the default (4). */
    uint32_t max_concurrent_pulls;
    /** Where the engine serves inference requests (its HTTP base URL, e.g. "http://10.0.0.5:8000"), so that
     *  `handoff router` can send it the requests paired to it; NULL or "" for none. */
    const char *endpoint;
} handoff_runtime_options;

/** What the runtime asks of the engine. */
typedef enum handoff_event_kind {
    /** A session with the coordinator is open (again). */
    HANDOFF_EVENT_REGISTERED = 0,
    /** Prefill: compute the prompt, answer handoff_runtime_prefill_done with its blocks in token order. */
    HANDOFF_EVENT_PREFILL = 1,
    /** Decode: allocate `block_count` blocks, answer handoff_runtime_reserved (or _reserve_failed). */
    HANDOFF_EVENT_RESERVE = 2,
    /** Decode: the ticket's KV is in destination_blocks; answer handoff_runtime_transfer_done, then first_token. */
    HANDOFF_EVENT_LOADED = 3,
    /** Decode: the pull failed; a RELEASE follows. */
    HANDOFF_EVENT_LOAD_FAILED = 4,
    /** The ticket is over: free its blocks (no transfer touches them any more). */
    HANDOFF_EVENT_RELEASE = 5,
} handoff_event_kind;

/** One event; every pointer in it is owned by the event and valid until handoff_event_free. */
typedef struct handoff_event {
    /** A handoff_event_kind. */
    uint32_t kind;
    /** The ticket the event is about; "" for REGISTERED. */
    const char *ticket;
    /** The request's id (PREFILL); "" otherwise. */
    const char *request_id;
    /** Why (LOAD_FAILED, RELEASE); "" otherwise. */
    const char *reason;
    /** This worker's registered instance (REGISTERED). */
    uint64_t instance;
    /** Prompt tokens (PREFILL, LOADED). */
    uint64_t prompt_tokens;
    /** Blocks the ticket needs (PREFILL, RESERVE) or moved (LOADED). */
    uint64_t block_count;
    /** The prefill's blocks and the reserved blocks they were pulled into, block_count each (LOADED). */
    const int64_t *source_blocks;
    const int64_t *destination_blocks;
    /** The seed of the simulated prompt content (PREFILL, LOADED); 0 for real prompts. */
    uint64_t content_seed;
    /** How long prefill's blocks are held for decode (PREFILL), seconds. */
    double lease_seconds;
    /** The pull's figures (LOADED). */
    handoff_report report;
    /** The W3C traceparent of the request's span at the coordinator (PREFILL, LOADED, LOAD_FAILED); "" when the
     *  request is not traced. An engine that traces makes its spans for the ticket its children. */
    const char *traceparent;
} handoff_event;

/**
 * Registers the engine's KV memory, starts the data plane and joins the coordinator (reconnecting with back-off
 * until closed). Returns once the memory is registered; REGISTERED follows when the session opens.
 */
handoff_status handoff_runtime_start(const handoff_runtime_options *options, handoff_runtime **out, char **error);
/**
 * The next event, waiting up to timeout_ms (0: do not wait; negative: forever). HANDOFF_OK with *event set (free
 * it with handoff_event_free), HANDOFF_PENDING when none came, HANDOFF_E_CLOSED once the runtime stopped (the
 * message says why, such as a refused registration).
 */
handoff_status handoff_runtime_next_event(
    handoff_runtime *runtime, int64_t timeout_ms, handoff_event **event, char **error);
/** Readable while events are queued (and once the runtime stopped). Owned by the runtime. */
int handoff_runtime_event_fd(const handoff_runtime *runtime);
void handoff_event_free(handoff_event *event);

/* Answers: each refuses (and changes nothing) a ticket not in the state it needs, or blocks that do not fit. */
handoff_status handoff_runtime_prefill_started(handoff_runtime *runtime, const char *ticket, char **error);
handoff_status handoff_runtime_prefill_done(
    handoff_runtime *runtime, const char *ticket, const int64_t *blocks, size_t count, char **error);
handoff_status handoff_runtime_reserved(
    handoff_runtime *runtime, const char *ticket, const int64_t *blocks, size_t count, char **error);
/* Decode already holds the prompt's first `cached_blocks` blocks (its prefix cache): `blocks` are for the rest, in
 * token order, and only the rest moves (block_count - cached_blocks of them; at least one). */
handoff_status handoff_runtime_reserved_after_prefix(
    handoff_runtime *runtime, const char *ticket, uint32_t cached_blocks, const int64_t *blocks, size_t count,
    char **error);
handoff_status handoff_runtime_reserve_failed(
    handoff_runtime *runtime, const char *ticket, const char *reason, char **error);
/* `verified`: 1 the engine checked the loaded KV and found it intact; 0 it found a mismatch (the load fails);
 * -1 it had nothing to check it against (a real engine's KV): the load counts as done, the account says unverified. */
handoff_status handoff_runtime_transfer_done(
    handoff_runtime *runtime, const char *ticket, int verified, char **error);
handoff_status handoff_runtime_first_token(
    handoff_runtime *runtime, const char *ticket, double decode_seconds, char **error);

/*
 * Push mode (prefill). For a push-mode ticket the coordinator tells the runtime where decode reserved its blocks; the
 * engine then writes the KV layer by layer while it computes:
 * - handoff_runtime_push_layers after computing layer `last_layer` (its KV in `blocks`, the ticket's blocks in token
 *   order): starts writing every layer up to it not written yet and returns at once. `*started` is 1, or 0 when the
 *   ticket has no push target (yet; call again after the next layer) or its push was declined: nothing was written.
 * - handoff_runtime_finish_push after the last layer: writes what is left, blocks until every write is done and
 *   reports the push. `*pushed` is 1 when the KV is with decode, 0 when it is not (no target came, or a write
 *   failed): decode then pulls after handoff_runtime_prefill_done, which follows in either case.
 */
handoff_status handoff_runtime_push_layers(
    handoff_runtime *runtime, const char *ticket, const int64_t *blocks, size_t count, uint32_t last_layer,
    int *started, char **error);
handoff_status handoff_runtime_finish_push(
    handoff_runtime *runtime, const char *ticket, const int64_t *blocks, size_t count, int *pushed, char **error);

/** Sets the load the next heartbeats carry. */
void handoff_runtime_set_load(handoff_runtime *runtime, uint64_t free_blocks, uint64_t queue_depth);
/** The layout the runtime registered (with region_bytes). */
void handoff_runtime_layout(const handoff_runtime *runtime, handoff_layout *out);
/** The address and length of the runtime pool's region `index` (its own memory when it allocated the pool). */
handoff_status handoff_runtime_region(
    const handoff_runtime *runtime, uint32_t index, void **address, uint64_t *length, char **error);
/** Ends the session in order (every ticket released); returns at once. */
void handoff_runtime_close(handoff_runtime *runtime);
/**
 * Closes the runtime, waits until it has stopped (the engine's memory is then no longer touched; events still queued
 * are discarded), frees it.
 */
void handoff_runtime_destroy(handoff_runtime *runtime);

#ifdef __cplusplus
}
#endif

#endif /* HANDOFF_H */
