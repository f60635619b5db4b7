// The C API: see include/handoff.h.
