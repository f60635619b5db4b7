// Linux calls that Swift's Glibc module does not import: memfd_create, pidfd_open and pidfd_getfd, for the
// same-host shared-memory data plane (HandoffDataPlane/SharedMemory).
#ifndef HANDOFF_LINUX_MEMORY_H
#define HANDOFF_LINUX_MEMORY_H

#include <stddef.h>
#include <sys/types.h>

/// A close-on-exec memfd named `name` that can be sealed; -1 with errno on failure.
int handoff_memfd_create(const char *name);
/// Seals the memfd's size (no shrinking, no growing, no further seals), so that no process mapping it can be
/// made to fault (SIGBUS) by a truncation. 0, or -1 with errno.
int handoff_memfd_seal_size(int fd);
/// Whether the memfd's size is sealed against shrinking.
int handoff_memfd_size_is_sealed(int fd);
/// A pidfd for process `pid`; -1 with errno (ESRCH: no such process).
int handoff_pidfd_open(pid_t pid);
/// A duplicate, in this process, of descriptor `fd` of the process behind `pidfd`; -1 with errno (EPERM: the
/// ptrace access rules refuse, EBADF: no such descriptor there).
int handoff_pidfd_getfd(int pidfd, int fd);

/// Copies `length` bytes with non-temporal (streaming) stores where the CPU has them (x86-64: SSE2), so that a
/// large copy does not first read every destination line into the cache, as a plain memcpy of a KV piece below
/// glibc's non-temporal threshold does. Call `handoff_copy_fence` once after a batch of copies.
void handoff_copy_streaming(void *destination, const void *source, size_t length);
/// Orders the streaming stores before whatever follows (sfence).
void handoff_copy_fence(void);

#endif
