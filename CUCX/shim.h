// CUCX: UCX's ucp API for Swift, and the UCT queries that list its transports and devices.
// Only what Swift cannot import by itself lives here: UCX's function-like macros as one-line inline functions.
#ifndef HANDOFF_CUCX_SHIM_H
#define HANDOFF_CUCX_SHIM_H

#include <ucp/api/ucp.h>
#include <uct/api/uct.h>

/// UCS_PTR_IS_ERR: the pointer returned by a non-blocking call encodes an error status.
static inline int handoff_ucs_ptr_is_err(const void *ptr) { return UCS_PTR_IS_ERR(ptr); }

/// UCS_PTR_IS_PTR: the pointer returned by a non-blocking call is a request in progress.
static inline int handoff_ucs_ptr_is_ptr(const void *ptr) { return UCS_PTR_IS_PTR(ptr); }

/// UCS_PTR_STATUS: the status a non-blocking call's returned pointer stands for.
static inline ucs_status_t handoff_ucs_ptr_status(const void *ptr) { return UCS_PTR_STATUS(ptr); }

#endif
