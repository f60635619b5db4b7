// CHwloc: hwloc's topology API for Swift (libhwloc-dev). hwloc's inline helpers import as they are;
// nothing needs a wrapper yet.
#ifndef HANDOFF_CHWLOC_SHIM_H
#define HANDOFF_CHWLOC_SHIM_H

#include <hwloc.h>

#endif
