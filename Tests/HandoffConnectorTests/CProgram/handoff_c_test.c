/*
 * A C engine using libHandoffC through handoff.h only, run by CAPITests.swift.
 *
 *   handoff_c_test data-plane tcp|ucx|auto
 *       two transports in one process: READ of block pairs and WRITE of byte ranges between a pool registered from
 *       malloc'd memory and an allocated one, checked byte for byte; refused inputs; grants (tcp).
 *   handoff_c_test runtime HOST:PORT REQUESTS
 *       a prefill and a decode runtime over the engine's own memory, joined to a coordinator with the token in
 *       $HANDOFF_TOKEN; serves REQUESTS requests (the test admits them), checking every pulled byte.
 *
 * Prints one line per failed check and exits 1 if any failed.
 */
#include <handoff.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures = 0;
static int checks = 0;

#define CHECK(condition, ...)                                                                                          \
    do {                                                                                                               \
        checks++;                                                                                                      \
        if (!(condition)) {                                                                                            \
            failures++;                                                                                                \
            printf("FAILED %s:%d: ", __FILE__, __LINE__);                                                              \
            printf(__VA_ARGS__);                                                                                       \
            printf("\n");                                                                                              \
            fflush(stdout);                                                                                            \
        }                                                                                                              \
    } while (0)

/* Runs a call that must succeed; on failure prints its message and exits. */
#define MUST(call)                                                                                                     \
    do {                                                                                                               \
        char *message_ = NULL;                                                                                         \
        char **error = &message_;                                                                                      \
        handoff_status status_ = (call);                                                                               \
        if (status_ != HANDOFF_OK) {                                                                                   \
            printf("FAILED %s:%d: %s -> %d: %s\n", __FILE__, __LINE__, #call, status_, message_ ? message_ : "");      \
            exit(1);                                                                                                   \
        }                                                                                                              \
        (void)error;                                                                                                   \
    } while (0)

/* The byte at `offset` of piece (layer, kind) of a block whose content is `seed`. */
static uint8_t pattern(uint64_t seed, uint32_t layer, uint32_t kind, uint64_t offset) {
    return (uint8_t)(seed * 31 + layer * 7 + kind * 3 + offset * 13 + (offset >> 8));
}

static uint64_t piece_offset(const handoff_layout *layout, uint32_t kind, uint64_t block) {
    if (layout->arrangement == HANDOFF_SPLIT) return (kind * layout->num_blocks + block) * layout->piece_bytes;
    return (block * layout->kinds_per_block + kind) * layout->piece_bytes;
}

static void fill_block(uint8_t **regions, const handoff_layout *layout, uint64_t block, uint64_t seed) {
    for (uint32_t layer = 0; layer < layout->layers; layer++)
        for (uint32_t kind = 0; kind < layout->kinds_per_block; kind++) {
            uint8_t *piece = regions[layer] + piece_offset(layout, kind, block);
            for (uint64_t i = 0; i < layout->piece_bytes; i++) piece[i] = pattern(seed, layer, kind, i);
        }
}

static int block_holds(uint8_t **regions, const handoff_layout *layout, uint64_t block, uint64_t seed) {
    for (uint32_t layer = 0; layer < layout->layers; layer++)
        for (uint32_t kind = 0; kind < layout->kinds_per_block; kind++) {
            const uint8_t *piece = regions[layer] + piece_offset(layout, kind, block);
            for (uint64_t i = 0; i < layout->piece_bytes; i++)
                if (piece[i] != pattern(seed, layer, kind, i)) return 0;
        }
    return 1;
}

static handoff_status wait_transfer(handoff_transfer *transfer, char **message) {
    handoff_status status = handoff_transfer_wait(transfer, 20000, message);
    if (status == HANDOFF_PENDING) printf("transfer still running after 20 s\n");
    return status;
}

static int data_plane(const char *kind) {
    handoff_transport_options options = {.kind = kind, .tcp_listen_host = "127.0.0.1"};
    handoff_transport *server = NULL, *client = NULL;
    MUST(handoff_transport_create(&options, &server, error));
    MUST(handoff_transport_create(&options, &client, error));

    handoff_layout layout = {.layers = 4, .kinds_per_block = 2, .piece_bytes = 4096, .num_blocks = 32,
                             .arrangement = HANDOFF_SPLIT};
    MUST(handoff_layout_check(&layout, error));
    CHECK(layout.region_bytes == 2 * 32 * 4096, "region bytes %llu", (unsigned long long)layout.region_bytes);

    /* The serving side registers memory it owns, as an engine does. */
    uint8_t *server_regions[4];
    uint64_t lengths[4];
    for (int i = 0; i < 4; i++) {
        server_regions[i] = aligned_alloc(4096, layout.region_bytes);
        lengths[i] = layout.region_bytes;
    }
    for (uint64_t block = 0; block < layout.num_blocks; block++) fill_block(server_regions, &layout, block, block + 1);
    handoff_pool *served = NULL;
    MUST(handoff_pool_register(server, &layout, (void *const *)server_regions, lengths, 4, &served, error));

    /* The pulling side lets the transport allocate, with K and V fused per block: same geometry, other order. */
    handoff_layout fused = layout;
    fused.arrangement = HANDOFF_FUSED;
    fused.num_blocks = 16;
    handoff_pool *local = NULL;
    MUST(handoff_pool_allocate(client, &fused, &local, error));
    uint8_t *local_regions[4];
    for (uint32_t i = 0; i < 4; i++) {
        uint64_t length = 0;
        MUST(handoff_pool_region(local, i, (void **)&local_regions[i], &length, error));
        CHECK(length >= 2 * 16 * 4096, "allocated region %u holds %llu bytes", i, (unsigned long long)length);
    }

    uint8_t *descriptor = NULL;
    size_t descriptor_length = 0;
    MUST(handoff_pool_descriptor(served, &descriptor, &descriptor_length, error));
    handoff_peer *peer = NULL;
    MUST(handoff_peer_connect(client, descriptor, descriptor_length, &peer, error));
    handoff_layout peer_layout;
    handoff_peer_layout(peer, &peer_layout);
    CHECK(peer_layout.num_blocks == 32 && peer_layout.arrangement == HANDOFF_SPLIT, "peer layout");

    /* READ four scattered blocks. */
    int64_t sources[] = {3, 4, 5, 20};
    int64_t destinations[] = {0, 1, 2, 9};
    handoff_transfer *transfer = NULL;
    MUST(handoff_transfer_blocks(peer, local, HANDOFF_READ, sources, destinations, 4, NULL, &transfer, error));
    char *message = NULL;
    handoff_status status = wait_transfer(transfer, &message);
    CHECK(status == HANDOFF_OK, "READ ended %d: %s", status, message ? message : "");
    handoff_string_free(message);
    struct pollfd ready = {.fd = handoff_transfer_fd(transfer), .events = POLLIN};
    CHECK(poll(&ready, 1, 0) == 1, "the transfer's descriptor is not readable after it ended");
    handoff_report report;
    MUST(handoff_transfer_report(transfer, &report, error));
    CHECK(report.bytes == 4 * 4 * 2 * 4096, "report bytes %llu", (unsigned long long)report.bytes);
    CHECK(report.pieces == 4 * 4 * 2, "report pieces %llu", (unsigned long long)report.pieces);
    CHECK(report.operation == HANDOFF_READ && strlen(report.transport) > 0, "report operation/transport");
    CHECK(strcmp(kind, "auto") == 0 || strcmp(report.transport, kind) == 0, "transport %s", report.transport);
    printf("read %llu bytes in %llu ops over %s (%s)\n", (unsigned long long)report.bytes,
           (unsigned long long)report.ops, report.transport, report.lanes);
    handoff_transfer_destroy(transfer);
    for (int i = 0; i < 4; i++)
        CHECK(block_holds(local_regions, &fused, destinations[i], sources[i] + 1), "block %lld -> %lld differs",
              (long long)sources[i], (long long)destinations[i]);

    /* WRITE byte ranges: two that continue each other (merged) and one elsewhere. */
    for (uint64_t i = 0; i < 3000; i++) local_regions[1][i] = (uint8_t)(i * 7 + 1);
    handoff_range ranges[] = {
        {.source_region = 1, .source_offset = 0, .destination_region = 2, .destination_offset = 5, .length = 1000},
        {.source_region = 1, .source_offset = 1000, .destination_region = 2, .destination_offset = 1005, .length = 1000},
        {.source_region = 1, .source_offset = 2000, .destination_region = 3, .destination_offset = 77, .length = 1000},
    };
    MUST(handoff_transfer_ranges(peer, local, HANDOFF_WRITE, ranges, 3, NULL, &transfer, error));
    status = wait_transfer(transfer, &message);
    CHECK(status == HANDOFF_OK, "WRITE ended %d: %s", status, message ? message : "");
    handoff_string_free(message);
    MUST(handoff_transfer_report(transfer, &report, error));
    /* Three ranges, two of them continuing each other: UCX posts 2 ops, native TCP may batch them into fewer. */
    CHECK(report.bytes == 3000 && report.ops >= 1 && report.ops <= 2 && report.pieces == 3, "WRITE report %llu bytes %llu ops",
          (unsigned long long)report.bytes, (unsigned long long)report.ops);
    handoff_transfer_destroy(transfer);
    CHECK(memcmp(server_regions[2] + 5, local_regions[1], 2000) == 0, "ranges 0-1 differ");
    CHECK(memcmp(server_regions[3] + 77, local_regions[1] + 2000, 1000) == 0, "range 2 differs");

    /* Refusals: a block outside the pool, a range outside a region, a mangled descriptor, NULL handles. */
    int64_t outside[] = {32};
    int64_t zero[] = {0};
    status = handoff_transfer_blocks(peer, local, HANDOFF_READ, outside, zero, 1, NULL, &transfer, &message);
    CHECK(status == HANDOFF_E_LAYOUT && message && strstr(message, "32"), "block 32: %d %s", status,
          message ? message : "(no message)");
    handoff_string_free(message);
    handoff_range beyond = {.source_region = 0, .source_offset = layout.region_bytes - 10, .destination_region = 0,
                            .destination_offset = 0, .length = 11};
    status = handoff_transfer_ranges(peer, local, HANDOFF_READ, &beyond, 1, NULL, &transfer, &message);
    CHECK(status == HANDOFF_E_LAYOUT, "range beyond its region: %d %s", status, message ? message : "");
    handoff_string_free(message);
    descriptor[descriptor_length / 2] ^= 0xff;
    descriptor[0] ^= 0xff;
    handoff_peer *broken = NULL;
    status = handoff_peer_connect(client, descriptor, descriptor_length, &broken, &message);
    CHECK(status == HANDOFF_E_DESCRIPTOR && broken == NULL, "mangled descriptor: %d %s", status,
          message ? message : "");
    handoff_string_free(message);
    status = handoff_transfer_blocks(NULL, local, HANDOFF_READ, sources, destinations, 1, NULL, &transfer, &message);
    CHECK(status == HANDOFF_E_INVALID_ARGUMENT, "NULL peer: %d", status);
    handoff_string_free(message);
    status = handoff_transfer_blocks(peer, local, (handoff_operation)7, sources, destinations, 1, NULL, &transfer, NULL);
    CHECK(status == HANDOFF_E_INVALID_ARGUMENT, "operation 7: %d", status);
    handoff_layout bad = {.layers = 0, .kinds_per_block = 2, .piece_bytes = 1, .num_blocks = 1};
    CHECK(handoff_layout_check(&bad, NULL) == HANDOFF_E_LAYOUT, "zero layers accepted");
    handoff_layout huge = {.layers = 65536, .kinds_per_block = 2, .piece_bytes = 1ull << 40, .num_blocks = 1ull << 20};
    CHECK(handoff_layout_check(&huge, NULL) == HANDOFF_E_LAYOUT, "a 2^77-byte pool accepted");
    handoff_bytes_free(descriptor);

    /* Grants (native TCP checks them): none refused, the granted blocks served, others refused. */
    if (strcmp(kind, "tcp") == 0) {
        MUST(handoff_pool_require_grants(served, error));
        int64_t one[] = {7};
        int64_t slot[] = {12};
        status = handoff_transfer_blocks(peer, local, HANDOFF_READ, one, slot, 1, NULL, &transfer, &message);
        if (status == HANDOFF_OK) status = wait_transfer(transfer, &message);
        CHECK(status == HANDOFF_E_PEER, "READ without a grant: %d %s", status, message ? message : "");
        handoff_string_free(message);
        handoff_transfer_destroy(transfer);
        uint64_t token = 0;
        MUST(handoff_pool_grant(served, HANDOFF_READ, one, 1, &token, error));
        handoff_transfer_options granted = {.grant = token, .timeout_ms = 10000};
        MUST(handoff_transfer_blocks(peer, local, HANDOFF_READ, one, slot, 1, &granted, &transfer, error));
        status = wait_transfer(transfer, &message);
        CHECK(status == HANDOFF_OK, "READ under a grant: %d %s", status, message ? message : "");
        handoff_string_free(message);
        handoff_transfer_destroy(transfer);
        CHECK(block_holds(local_regions, &fused, 12, 8), "granted block differs");
        int64_t other[] = {8};
        MUST(handoff_transfer_blocks(peer, local, HANDOFF_READ, other, slot, 1, &granted, &transfer, error));
        status = wait_transfer(transfer, &message);
        CHECK(status == HANDOFF_E_PEER, "READ outside the grant: %d %s", status, message ? message : "");
        handoff_string_free(message);
        handoff_transfer_destroy(transfer);
        handoff_pool_revoke(served, token);
        MUST(handoff_transfer_blocks(peer, local, HANDOFF_READ, one, slot, 1, &granted, &transfer, error));
        status = wait_transfer(transfer, &message);
        CHECK(status == HANDOFF_E_PEER, "READ under a revoked grant: %d %s", status, message ? message : "");
        handoff_string_free(message);
        handoff_transfer_destroy(transfer);
    }

    /* A destroyed transport freed its pools' memory: their handles and its peers' refuse every call with
       HANDOFF_E_CLOSED (not an address of freed memory) until they are released. */
    handoff_transport_destroy(client);
    {
        void *address = NULL;
        uint64_t length = 0;
        char *message = NULL;
        handoff_status status = handoff_pool_region(local, 0, &address, &length, &message);
        CHECK(status == HANDOFF_E_CLOSED && address == NULL, "a region after its transport was destroyed: %d %s",
              status, message ? message : "");
        handoff_string_free(message);
        message = NULL;
        int64_t block = 0;
        handoff_transfer *transfer = NULL;
        status = handoff_transfer_blocks(peer, local, HANDOFF_READ, &block, &block, 1, NULL, &transfer, &message);
        CHECK(status == HANDOFF_E_CLOSED && transfer == NULL, "a READ after its transport was destroyed: %d %s",
              status, message ? message : "");
        handoff_string_free(message);
    }
    handoff_peer_disconnect(peer);
    handoff_pool_release(local);
    handoff_pool_release(served);
    handoff_transport_destroy(server);
    for (int i = 0; i < 4; i++) free(server_regions[i]);
    return 0;
}

/* One engine of the runtime test: its runtime, its memory, its blocks in use. */
typedef struct engine {
    const char *name;
    handoff_runtime *runtime;
    handoff_layout layout;
    uint8_t *regions[8];
    int used[64];
    int registered;
    int releases;
} engine;

static int allocate_blocks(engine *e, uint64_t count, int64_t *out) {
    uint64_t found = 0;
    for (uint64_t block = 0; block < e->layout.num_blocks && found < count; block++)
        if (!e->used[block]) out[found++] = (int64_t)block;
    if (found < count) return 0;
    for (uint64_t i = 0; i < count; i++) e->used[out[i]] = 1;
    return 1;
}

/* Tickets and their blocks, so that RELEASE frees what the engine allocated for it. */
typedef struct held {
    char ticket[64];
    engine *owner;
    int64_t blocks[64];
    uint64_t count;
} held;
static held holdings[64];

static void hold(engine *e, const char *ticket, const int64_t *blocks, uint64_t count) {
    for (int i = 0; i < 64; i++)
        if (holdings[i].owner == NULL) {
            snprintf(holdings[i].ticket, sizeof holdings[i].ticket, "%s", ticket);
            holdings[i].owner = e;
            memcpy(holdings[i].blocks, blocks, count * sizeof *blocks);
            holdings[i].count = count;
            return;
        }
}

static void release(engine *e, const char *ticket) {
    for (int i = 0; i < 64; i++)
        if (holdings[i].owner == e && strcmp(holdings[i].ticket, ticket) == 0) {
            for (uint64_t b = 0; b < holdings[i].count; b++) e->used[holdings[i].blocks[b]] = 0;
            holdings[i].owner = NULL;
        }
}

static int loaded = 0, verified = 0;

static void handle(engine *e, handoff_event *event) {
    int64_t blocks[64];
    char *message = NULL;
    switch (event->kind) {
    case HANDOFF_EVENT_REGISTERED:
        e->registered = 1;
        break;
    case HANDOFF_EVENT_PREFILL:
        if (!allocate_blocks(e, event->block_count, blocks)) {
            printf("prefill has no room for %llu blocks\n", (unsigned long long)event->block_count);
            break;
        }
        for (uint64_t i = 0; i < event->block_count; i++)
            fill_block(e->regions, &e->layout, blocks[i], event->content_seed + i);
        hold(e, event->ticket, blocks, event->block_count);
        MUST(handoff_runtime_prefill_done(e->runtime, event->ticket, blocks, event->block_count, error));
        break;
    case HANDOFF_EVENT_RESERVE:
        if (!allocate_blocks(e, event->block_count, blocks)) {
            MUST(handoff_runtime_reserve_failed(e->runtime, event->ticket, "no free blocks", error));
            break;
        }
        hold(e, event->ticket, blocks, event->block_count);
        MUST(handoff_runtime_reserved(e->runtime, event->ticket, blocks, event->block_count, error));
        break;
    case HANDOFF_EVENT_LOADED: {
        loaded++;
        int ok = 1;
        for (uint64_t i = 0; i < event->block_count; i++)
            ok &= block_holds(e->regions, &e->layout, event->destination_blocks[i], event->content_seed + i);
        verified += ok;
        CHECK(ok, "ticket %s: pulled blocks differ", event->ticket);
        CHECK(event->report.bytes == event->block_count * 2 * 2 * 2048 && strlen(event->report.transport) > 0,
              "LOADED report: %llu bytes over '%s'", (unsigned long long)event->report.bytes, event->report.transport);
        /* The coordinator traces nothing here (no tracer in the test process): the trace context is empty. */
        CHECK(event->traceparent != NULL && event->traceparent[0] == '\0', "an untraced LOADED carries '%s'",
              event->traceparent ? event->traceparent : "(null)");
        MUST(handoff_runtime_transfer_done(e->runtime, event->ticket, ok, error));
        MUST(handoff_runtime_first_token(e->runtime, event->ticket, 0.001, error));
        release(e, event->ticket); /* the blocks are the request's now; this engine generates nothing more */
        /* A second answer for the same ticket is refused and changes nothing. */
        handoff_status again = handoff_runtime_transfer_done(e->runtime, event->ticket, ok, &message);
        CHECK(again == HANDOFF_E_UNKNOWN, "a repeated transfer_done returned %d", again);
        handoff_string_free(message);
        break;
    }
    case HANDOFF_EVENT_LOAD_FAILED:
        printf("load failed: %s: %s\n", event->ticket, event->reason);
        break;
    case HANDOFF_EVENT_RELEASE:
        e->releases++;
        release(e, event->ticket);
        break;
    }
}

static int runtime_test(const char *coordinator, int requests) {
    engine engines[2] = {{.name = "prefill"}, {.name = "decode"}};
    handoff_engine_layout spec = {.model = "c-engine", .layers = 2, .kv_heads = 2, .head_dim = 32, .dtype_bytes = 2,
                                  .block_tokens = 16, .num_blocks = 64, .arrangement = HANDOFF_SPLIT,
                                  .kinds_per_block = 2};
    handoff_transport_options transport = {.kind = "tcp", .tcp_listen_host = "127.0.0.1"};
    for (int i = 0; i < 2; i++) {
        engine *e = &engines[i];
        MUST(handoff_engine_layout_resolve(&spec, &e->layout, error));
        uint64_t lengths[2];
        for (uint32_t layer = 0; layer < spec.layers; layer++) {
            e->regions[layer] = calloc(1, e->layout.region_bytes);
            lengths[layer] = e->layout.region_bytes;
        }
        handoff_runtime_options options = {.id = e->name, .role = i == 0 ? HANDOFF_PREFILL : HANDOFF_DECODE,
                                           .coordinator = coordinator, .layout = &spec,
                                           .buffers = (void *const *)e->regions, .buffer_lengths = lengths,
                                           .buffer_count = spec.layers, .transport = &transport};
        MUST(handoff_runtime_start(&options, &e->runtime, error));
    }
    CHECK(engines[0].layout.piece_bytes == 16 * 2 * 32 * 2, "derived piece bytes %llu",
          (unsigned long long)engines[0].layout.piece_bytes);
    char *message = NULL;
    int64_t some[] = {1};
    handoff_status status = handoff_runtime_prefill_done(engines[0].runtime, "no-such-ticket", some, 1, &message);
    CHECK(status == HANDOFF_E_UNKNOWN && message != NULL, "an unknown ticket: %d", status);
    handoff_string_free(message);

    for (int round = 0; round < 6000 && (engines[0].releases < requests || loaded < requests); round++) {
        struct pollfd fds[2];
        for (int i = 0; i < 2; i++) fds[i] = (struct pollfd){.fd = handoff_runtime_event_fd(engines[i].runtime),
                                                            .events = POLLIN};
        poll(fds, 2, 10);
        for (int i = 0; i < 2; i++) {
            handoff_event *event = NULL;
            while (handoff_runtime_next_event(engines[i].runtime, 0, &event, NULL) == HANDOFF_OK) {
                handle(&engines[i], event);
                handoff_event_free(event);
            }
        }
    }
    printf("registered %d %d, loaded %d verified %d, prefill released %d\n", engines[0].registered,
           engines[1].registered, loaded, verified, engines[0].releases);
    CHECK(loaded == requests && verified == requests, "loaded %d verified %d of %d", loaded, verified, requests);
    for (int i = 0; i < 2; i++) {
        int in_use = 0;
        for (uint64_t b = 0; b < engines[i].layout.num_blocks; b++) in_use += engines[i].used[b];
        CHECK(in_use == 0, "%s still holds %d blocks", engines[i].name, in_use);
    }
    handoff_runtime_close(engines[1].runtime);
    handoff_event *event = NULL;
    for (int i = 0; i < 1000; i++) {
        status = handoff_runtime_next_event(engines[1].runtime, 100, &event, &message);
        if (status == HANDOFF_OK) handoff_event_free(event);
        if (status == HANDOFF_E_CLOSED) break;
    }
    CHECK(status == HANDOFF_E_CLOSED, "a closed runtime's next event: %d", status);
    handoff_string_free(message);
    for (int i = 0; i < 2; i++) {
        handoff_runtime_destroy(engines[i].runtime);
        for (uint32_t layer = 0; layer < spec.layers; layer++) free(engines[i].regions[layer]);
    }
    return 0;
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    CHECK(handoff_api_version() == HANDOFF_API_VERSION, "API version %d", handoff_api_version());
    if (argc == 3 && strcmp(argv[1], "data-plane") == 0) {
        data_plane(argv[2]);
    } else if (argc == 4 && strcmp(argv[1], "runtime") == 0) {
        runtime_test(argv[2], atoi(argv[3]));
    } else {
        fprintf(stderr, "usage: %s data-plane tcp|ucx|auto | runtime HOST:PORT REQUESTS\n", argv[0]);
        return 2;
    }
    printf("%d checks, %d failed\n", checks, failures);
    return failures == 0 ? 0 : 1;
}
