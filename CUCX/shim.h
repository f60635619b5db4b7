// CUCX: UCX's ucp API for Swift, and the UCT queries that list its transports and devices.
// Only what Swift cannot import by itself lives here: UCX's function-like macros as one-line inline functions.
#ifndef HANDOFF_CUCX_SHIM_H
#define HANDOFF_CUCX_SHIM_H

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <ucp/api/ucp.h>
#include <ucs/debug/log_def.h>
#include <uct/api/uct.h>

/// UCS_PTR_IS_ERR: the pointer returned by a non-blocking call encodes an error status.
static inline int handoff_ucs_ptr_is_err(const void *ptr) { return UCS_PTR_IS_ERR(ptr); }

/// UCS_PTR_IS_PTR: the pointer returned by a non-blocking call is a request in progress.
static inline int handoff_ucs_ptr_is_ptr(const void *ptr) { return UCS_PTR_IS_PTR(ptr); }

/// UCS_PTR_STATUS: the status a non-blocking call's returned pointer stands for.
static inline ucs_status_t handoff_ucs_ptr_status(const void *ptr) { return UCS_PTR_STATUS(ptr); }

/// Prints one UCX log message to standard error as "UCX ERROR tcp_ep.c:1176 message" and ends its handling
/// there: UCX's own handler prints to standard output, which carries a program's own output (`bench --json`).
static inline ucs_log_func_rc_t handoff_ucs_log_to_stderr(
    const char *file, unsigned line, const char *function, ucs_log_level_t level,
    const ucs_log_component_config_t *comp_conf, const char *message, va_list ap) {
    (void)function;
    (void)comp_conf;
    const char *base = strrchr(file, '/');
    const char *name = level < UCS_LOG_LEVEL_LAST ? ucs_log_level_names[level] : "LOG";
    char text[1024];
    vsnprintf(text, sizeof text, message, ap);
    fprintf(stderr, "UCX %s %s:%u %s\n", name, base ? base + 1 : file, line, text);
    return UCS_LOG_FUNC_RC_STOP;
}

/// Routes UCX's log messages to standard error (see handoff_ucs_log_to_stderr). Call once per process.
static inline void handoff_ucs_log_to_stderr_install(void) { ucs_log_push_handler(handoff_ucs_log_to_stderr); }

#endif
