// The C API's types as the Swift library (HandoffC) sees them; the functions are defined there, with @_cdecl.
// These checks pin the layout of the structs a caller's language binds by hand (Python's ctypes).
#include "handoff.h"

_Static_assert(sizeof(handoff_layout) == 40, "handoff_layout changed size: update the bindings");
_Static_assert(sizeof(handoff_range) == 40, "handoff_range changed size: update the bindings");
_Static_assert(sizeof(handoff_report) == 336, "handoff_report changed size: update the bindings");
_Static_assert(sizeof(handoff_event) == 432, "handoff_event changed size: update the bindings");
_Static_assert(sizeof(handoff_runtime_options) == 112, "handoff_runtime_options changed size: update the bindings");
