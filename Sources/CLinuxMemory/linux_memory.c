#define _GNU_SOURCE
#include "linux_memory.h"

#include <stdint.h>

#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_getfd
#define SYS_pidfd_getfd 438
#endif

int handoff_memfd_create(const char *name) { return memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING); }

int handoff_memfd_seal_size(int fd) { return fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL); }

int handoff_memfd_size_is_sealed(int fd) {
    int seals = fcntl(fd, F_GET_SEALS);
    return seals >= 0 && (seals & F_SEAL_SHRINK) != 0;
}

int handoff_pidfd_open(pid_t pid) { return (int)syscall(SYS_pidfd_open, pid, 0); }

int handoff_pidfd_getfd(int pidfd, int fd) { return (int)syscall(SYS_pidfd_getfd, pidfd, fd, 0); }

#if defined(__x86_64__)
#include <immintrin.h>

/// Below this, a streaming copy's fence and setup cost more than the cache it spares.
enum { streaming_threshold = 4096 };

__attribute__((target("avx2"))) static void copy_avx2(unsigned char *to, const unsigned char *from, size_t length) {
    for (; length >= 128; length -= 128, to += 128, from += 128) {
        __m256i a = _mm256_loadu_si256((const __m256i *)from);
        __m256i b = _mm256_loadu_si256((const __m256i *)(from + 32));
        __m256i c = _mm256_loadu_si256((const __m256i *)(from + 64));
        __m256i d = _mm256_loadu_si256((const __m256i *)(from + 96));
        _mm256_stream_si256((__m256i *)to, a);
        _mm256_stream_si256((__m256i *)(to + 32), b);
        _mm256_stream_si256((__m256i *)(to + 64), c);
        _mm256_stream_si256((__m256i *)(to + 96), d);
    }
    memcpy(to, from, length);
}

static void copy_sse2(unsigned char *to, const unsigned char *from, size_t length) {
    for (; length >= 64; length -= 64, to += 64, from += 64) {
        __m128i a = _mm_loadu_si128((const __m128i *)from);
        __m128i b = _mm_loadu_si128((const __m128i *)(from + 16));
        __m128i c = _mm_loadu_si128((const __m128i *)(from + 32));
        __m128i d = _mm_loadu_si128((const __m128i *)(from + 48));
        _mm_stream_si128((__m128i *)to, a);
        _mm_stream_si128((__m128i *)(to + 16), b);
        _mm_stream_si128((__m128i *)(to + 32), c);
        _mm_stream_si128((__m128i *)(to + 48), d);
    }
    memcpy(to, from, length);
}

void handoff_copy_streaming(void *destination, const void *source, size_t length) {
    static int has_avx2 = -1;
    if (has_avx2 < 0) has_avx2 = __builtin_cpu_supports("avx2");
    unsigned char *to = destination;
    const unsigned char *from = source;
    /* Streaming stores cover whole 64-byte lines only: a line that also took a plain store (a piece's unaligned
       head or tail) would be written twice over. */
    size_t head = (64 - ((uintptr_t)to & 63)) & 63;
    if (length < streaming_threshold) {
        memcpy(to, from, length);
        return;
    }
    memcpy(to, from, head);
    if (has_avx2) {
        copy_avx2(to + head, from + head, length - head);
    } else {
        copy_sse2(to + head, from + head, length - head);
    }
}

void handoff_copy_fence(void) { _mm_sfence(); }
#else
void handoff_copy_streaming(void *destination, const void *source, size_t length) {
    memcpy(destination, source, length);
}

void handoff_copy_fence(void) { __sync_synchronize(); }
#endif
