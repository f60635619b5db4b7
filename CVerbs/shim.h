// CVerbs: libibverbs (RDMA devices, ports, GID tables) and librdmacm (which RDMA device routes to an address)
// for Swift. Only what Swift cannot import by itself lives here.
#ifndef HANDOFF_CVERBS_SHIM_H
#define HANDOFF_CVERBS_SHIM_H

#include <infiniband/verbs.h>
#include <rdma/rdma_cma.h>

/// ibv_query_port is a function-like macro over ___ibv_query_port.
static inline int handoff_ibv_query_port(struct ibv_context *context, uint8_t port, struct ibv_port_attr *attr) {
    return ibv_query_port(context, port, attr);
}

#endif
